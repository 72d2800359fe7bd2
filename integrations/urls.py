from django.urls import path

from integrations import views

urlpatterns = [
    path("", views.WebhookEndpointListView.as_view(), name="webhooks"),
    path("<int:pk>/", views.WebhookEndpointView.as_view(), name="webhook_endpoint"),
    path("<int:pk>/rotate/", views.WebhookEndpointRotateView.as_view(), name="webhook_endpoint_rotate"),
    path("<int:pk>/delete/", views.WebhookEndpointDeleteView.as_view(), name="webhook_endpoint_delete"),
    path("<int:pk>/test/", views.WebhookEndpointTestView.as_view(), name="webhook_endpoint_test"),
    path(
        "<int:pk>/deliveries/<int:delivery_pk>/redeliver/",
        views.WebhookDeliveryRedeliverView.as_view(),
        name="webhook_delivery_redeliver",
    ),
]
