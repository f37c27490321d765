"""A small Flask site for trying mod_wsgi-rs (README, "A Flask app")."""
import os

import mod_wsgi
from flask import Flask, jsonify

app = Flask(__name__)


@app.route('/')
def index():
    return 'Hello from Flask under Apache (mod_wsgi-rs)\n'


@app.route('/about')
def about():
    return jsonify(
        process_group=mod_wsgi.process_group,
        application_group=mod_wsgi.application_group,
        pid=os.getpid(),
        mod_wsgi_rs_version=mod_wsgi.mod_wsgi_rs_version,
    )
