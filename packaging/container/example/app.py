# SPDX-License-Identifier: MIT
"""The example's web application: what gunicorn serves (app:app). Its settings come from
the container's environment (docker run -e, a Kubernetes env:), the same for the jobs."""
import os

from flask import Flask

app = Flask(__name__)
app.config["APP_NAME"] = os.environ.get("APP_NAME", "example")
app.config["DATABASE_URL"] = os.environ.get("DATABASE_URL", "sqlite:////tmp/example.db")


@app.get("/")
def index():
    return {"app": app.config["APP_NAME"], "database": app.config["DATABASE_URL"]}


@app.get("/healthz")
def healthz():
    return "ok\n"
