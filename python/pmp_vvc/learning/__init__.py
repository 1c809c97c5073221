"""The learning side: labels, datasets, the partition-map network, training, export and evaluation.

``labels`` turns partition dumps into samples; ``dataset`` builds label shards with the anchor encoder
(on the executors of :mod:`pmp_vvc.evaluation.executors`); ``model`` is the network (torch), ``train``
its training, ``export`` the ONNX export, ``evaluate`` map accuracies, ``flops`` its cost. The encoder
at run time needs none of this: it uses :mod:`pmp_vvc.modelio` and :mod:`pmp_vvc.predictor`.
"""
