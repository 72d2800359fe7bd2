from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation


class JSONErrorsNegotiation(BaseContentNegotiation):
    """For endpoints that answer a file themselves (a streamed CSV): ``?format=`` is their own parameter,
    not DRF's renderer override (which would answer 404 to ``format=csv``), and their errors are JSON in
    the error shape."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
