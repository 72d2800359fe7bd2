"""Project-level views: error pages (JSON under /api/ and /hooks/) and the honest "not built yet" page."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/hooks/")


def page_not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"error": {"code": "not_found", "message": "Not found.", "details": {}}}, status=404)
    return render(request, "errors/404.html", status=404)


def permission_denied(request, exception=None):
    if _wants_json(request):
        body = {"error": {"code": "permission_denied", "message": "Your role does not allow this.", "details": {}}}
        return JsonResponse(body, status=403)
    return render(request, "errors/403.html", {"reason": str(exception or "")}, status=403)


def server_error(request):
    if _wants_json(request):
        body = {"error": {"code": "server_error", "message": "Something went wrong on our side.", "details": {}}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


@login_required
def not_built_yet(request):
    return render(request, "not_built_yet.html", status=200)
