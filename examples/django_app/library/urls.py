from django.urls import path

from library import cache_views, views

urlpatterns = [
    path("books/", views.book_list, name="book-list"),
    path("books/n-plus-one/", views.books_n_plus_one, name="books-n-plus-one"),
    path("books/optimized/", views.books_optimized, name="books-optimized"),
    path("books/create/", views.book_create, name="book-create"),
    path("books/<int:pk>/", views.book_detail, name="book-detail"),
    path("slow/", views.slow, name="slow"),
    path("error/", views.error, name="error"),
    path("health/", views.health, name="health"),
    path("login/", views.login_view, name="login"),
    path("me/", views.me, name="me"),
    path("cache/books/", cache_views.cached_books, name="cache-books"),
    path("cache/mixed/", cache_views.cache_mixed, name="cache-mixed"),
    path("cache/async/", cache_views.cache_async, name="cache-async"),
]
