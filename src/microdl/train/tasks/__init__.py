"""One module per capability: the LightningModule (loss, metrics, ``monitor``) and a thin ``fit_*``."""
