"""The schema in Graphene (served by graphene-django's GraphQLView at /graphql/)."""

import graphene

from gql import resolvers


class BookType(graphene.ObjectType):
    class Meta:
        name = "Book"

    id = graphene.ID(required=True)
    title = graphene.String(required=True)
    published = graphene.Int(required=True)
    author = graphene.Field(graphene.NonNull(lambda: AuthorType))

    def resolve_author(book, info):
        return resolvers.book_author(book)


class AuthorType(graphene.ObjectType):
    class Meta:
        name = "Author"

    id = graphene.ID(required=True)
    name = graphene.String(required=True)
    books = graphene.NonNull(graphene.List(graphene.NonNull(BookType)), first=graphene.Int())

    def resolve_books(author, info, first=None):
        return resolvers.author_books(author, first)


def _books_list():
    return graphene.NonNull(graphene.List(graphene.NonNull(BookType)), first=graphene.Int())


def _authors_list():
    return graphene.NonNull(graphene.List(graphene.NonNull(AuthorType)), first=graphene.Int())


class Query(graphene.ObjectType):
    book_count = graphene.Int(required=True)
    book = graphene.Field(BookType, id=graphene.ID(required=True))
    books = _books_list()
    authors = _authors_list()
    authors_optimized = _authors_list()
    cached_book_count = graphene.Int(required=True)
    slow = graphene.Int(required=True, ms=graphene.Int(required=True))
    failing = graphene.Int()

    def resolve_book_count(root, info):
        return resolvers.book_count()

    def resolve_book(root, info, id):
        return resolvers.book(id)

    def resolve_books(root, info, first=None):
        return resolvers.books(first)

    def resolve_authors(root, info, first=None):
        return resolvers.authors(first)

    def resolve_authors_optimized(root, info, first=None):
        return resolvers.authors_optimized(first)

    def resolve_cached_book_count(root, info):
        return resolvers.cached_book_count()

    def resolve_slow(root, info, ms):
        return resolvers.slow(ms)

    def resolve_failing(root, info):
        return resolvers.failing()


class CreateBook(graphene.Mutation):
    class Arguments:
        title = graphene.String(required=True)
        author_id = graphene.ID(required=True)
        published = graphene.Int(required=True)

    Output = graphene.NonNull(BookType)

    def mutate(root, info, title, author_id, published):
        return resolvers.create_book(title, author_id, published)


class Login(graphene.Mutation):
    class Arguments:
        username = graphene.String(required=True)
        password = graphene.String(required=True)

    Output = graphene.NonNull(graphene.Boolean)

    def mutate(root, info, username, password):
        return resolvers.login(username, password)


class Mutation(graphene.ObjectType):
    create_book = CreateBook.Field()
    login = Login.Field()


schema = graphene.Schema(query=Query, mutation=Mutation)
