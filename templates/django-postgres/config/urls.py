"""The project's URLs."""

from django.urls import path
from hits import views

urlpatterns = [path("hits", views.hits)]
