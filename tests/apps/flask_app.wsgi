# A small Flask application, run from a virtualenv named by WSGIPythonHome.
import sys

import flask
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route('/')
def index():
    return 'flask says hi'


@app.route('/echo', methods=['POST'])
def echo():
    return jsonify(length=len(request.get_data()), form=request.form.to_dict())


@app.route('/where')
def where():
    return jsonify(prefix=sys.prefix, flask=flask.__file__, root=request.script_root, path=request.path,
                   python=sys.version.split()[0])


@app.route('/fail')
def fail():
    raise ValueError('flask view failed on purpose')


application = app
