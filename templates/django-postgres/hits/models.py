"""One model: a row per visit of /hits."""

from django.db import models


class Hit(models.Model):
    at = models.DateTimeField(auto_now_add=True)
