from django.urls import path

from messaging.numbers.tendlc import views

urlpatterns = [
    path("", views.TenDlcView.as_view(), name="tendlc"),
    path("brand/", views.TenDlcBrandView.as_view(), name="tendlc_brand"),
    path("campaign/", views.TenDlcCampaignView.as_view(), name="tendlc_campaign"),
    path("campaigns/<int:pk>/", views.TenDlcCampaignDetailView.as_view(), name="tendlc_campaign_detail"),
    path("refresh/", views.TenDlcRefreshView.as_view(), name="tendlc_refresh"),
]
