"""The deployment's tests: lint and syntax in the default run; the real apply behind the ``deploy`` marker
(pyproject's markers; left out of the default run), since it changes this machine (packages, supervisord,
nginx, /srv/weblab-deploy): ``.venv/bin/pytest tests/deploy -m deploy``."""
