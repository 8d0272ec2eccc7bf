from django.urls import path

from jobs.web import views
from jobs.web.api import api

urlpatterns = [
    path("", views.index, name="index"),
    path("gallery/", views.gallery, name="gallery"),
    path("healthz", views.healthz, name="healthz"),
    path("files/outputs/<uuid:file_id>/", views.output_file, name="output-file"),
    path("files/uploads/<uuid:file_id>/", views.upload_file, name="upload-file"),
    path("api/", api.urls),
]
