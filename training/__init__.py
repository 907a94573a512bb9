"""Learning: datasets rendered by the engine, models, training, evaluation, export.

Only the model, training and export modules import torch (the ``training``
extra); ``dataset`` needs numpy and the engine alone.
"""
