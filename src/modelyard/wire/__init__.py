"""v1 request/response schemas shared by the server and the client (the server issue fills it)."""
