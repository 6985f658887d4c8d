"""The coordinator's model store: every published global model as a complete bundle, ready for OTA.

- :mod:`cloud_coordinator.models.store`: :class:`ModelStore`, bundles under ``<work>/models/<name>/<version>/``
  indexed in SQLite (atomic publish, a version never reused);
- :mod:`cloud_coordinator.models.export`: a task's weights → a bundle of every variant the task
  supports, in this process or in a worker process (the daemon never imports torch).

The FL runs publish into it (:mod:`cloud_coordinator.fl.publisher`); the registry and OTA build on it.
Importing this package imports neither flwr nor torch.
"""

from cloud_coordinator.models.export import ExportOutcome, ExportSpec, async_export, export_bundle
from cloud_coordinator.models.store import ModelRecord, ModelStore, Provenance, checked_bundle, store_dir

__all__ = ["ExportOutcome", "ExportSpec", "ModelRecord", "ModelStore", "Provenance", "async_export",
           "checked_bundle", "export_bundle", "store_dir"]
