"""``python -m cloud_coordinator.models SPEC.json RESULT.json``: the export worker (see ``export.py``)."""

import sys

from cloud_coordinator.models.export import worker_main

sys.exit(worker_main())
