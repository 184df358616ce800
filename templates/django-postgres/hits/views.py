"""/hits: one more row in PostgreSQL and one more in a Redis counter; both counts as JSON."""

import redis
from django.conf import settings
from django.http import HttpRequest, JsonResponse

from hits.models import Hit


def hits(request: HttpRequest) -> JsonResponse:
    Hit.objects.create()
    counter = redis.Redis(host="127.0.0.1", port=settings.REDIS_PORT)
    return JsonResponse({"postgres": Hit.objects.count(), "redis": counter.incr("hits")})
