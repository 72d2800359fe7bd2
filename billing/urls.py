from django.urls import path

from billing import views

urlpatterns = [
    path("", views.BillingView.as_view(), name="billing_home"),
    path("plan/", views.PlanChooseView.as_view(), name="billing_plan"),
    path("portal/", views.PortalView.as_view(), name="billing_portal"),
    path("spend-cap/", views.SpendCapView.as_view(), name="billing_spend_cap"),
    path("budgets/", views.BranchBudgetView.as_view(), name="billing_budget_set"),
    path("budgets/<int:pk>/delete/", views.BranchBudgetDeleteView.as_view(), name="billing_budget_delete"),
]
