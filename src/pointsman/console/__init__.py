"""The operator's console: the dashboard at /dashboard and its JSON API under /admin/api, read from store/."""
