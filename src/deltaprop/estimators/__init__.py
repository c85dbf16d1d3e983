"""scikit-learn estimators: a layered network trained by ``deltaprop.train``, with its scaling,
target encoding, model file (``save``, ``load``) and the quantities the command line prints.

``NetworkRegressor`` has linear outputs with the sum-of-squares error and
gives a predictive standard deviation from beta_ML (PRML 5.16);
``NetworkClassifier`` has a logistic output for two classes and softmax
outputs for more, with the cross-entropy error (PRML 5.21, 5.24).

One module per estimator (``regressor``, ``classifier``, ``mixture``), what they share (``base``) and
reading them back from their model files (``files``).
"""

from .base import MAX_MEMBERS
from .classifier import NetworkClassifier
from .files import ESTIMATORS, from_model_file, load, model_file
from .mixture import MixtureDensityRegressor
from .regressor import NetworkRegressor

__all__ = ["ESTIMATORS", "MAX_MEMBERS", "MixtureDensityRegressor", "NetworkClassifier", "NetworkRegressor",
           "from_model_file", "load", "model_file"]
