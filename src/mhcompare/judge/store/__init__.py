"""The rating app's database layer: tables, plain SQL, sign-in sessions, assignment, ratings, live chats, export."""
