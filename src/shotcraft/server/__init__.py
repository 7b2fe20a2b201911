"""The studio's HTTP surface: a REST API (FastAPI, OpenAPI at ``/docs``) and the web studio, one app."""
