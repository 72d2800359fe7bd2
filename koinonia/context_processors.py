def current_church(request):
    return {
        "current_church": getattr(request, "church", None),
        "current_role": getattr(request, "role", None),
    }
