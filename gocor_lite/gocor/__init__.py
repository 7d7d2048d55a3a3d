# SPDX-License-Identifier: MIT
"""GOCor (Truong et al., NeurIPS 2020): the learned functions of distance
(:mod:`~gocor_lite.gocor.spatial`), the filter initialisers
(:mod:`~gocor_lite.gocor.initializers`), the optimiser step shared by global and local GOCor
(:mod:`~gocor_lite.gocor.optimizer`), the drop-in modules (:mod:`~gocor_lite.gocor.modules`)
and the translation of the authors' released parameter names (:mod:`~gocor_lite.gocor.interop`).
"""
