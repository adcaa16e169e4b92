"""The bare Flask endpoint bench_rest.py measures beside POST /api/v1/orders: `gunicorn rest_bare:app`.

It parses the JSON body and answers SkyPost's envelope with 201, so the difference to an order is the order's own
work (auth, validation, the database transaction), not HTTP, JSON or gunicorn.
"""
from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask("skypost_bench_bare")


@app.post("/bare")
def bare():
    body = request.get_json(silent=True) or {}
    return jsonify({"success": True, "data": {"items": len(body.get("items", []))}, "error": None}), 201
