"""mixexp.io.load as an attacker and a careless user would try it (issue 21).

A skops file names the types to rebuild, and skops *calls* some of them with
arguments from the file. These tests rewrite real saved models so that every
node names a dangerous callable, with arguments that would create a marker
file, and check that ``load`` refuses them all before anything runs.
"""

import importlib
import io
import json
import os
import pickle
import shlex
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.gaussian_process.kernels import RBF, Matern
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.discovery import all_estimators

import mixexp
import mixexp.experts
import mixexp.gates
from mixexp import (
    DeepMixtureOfExpertsClassifier,
    DeepMixtureOfExpertsRegressor,
    HierarchicalMixtureOfExpertsClassifier,
    HierarchicalMixtureOfExpertsRegressor,
    MixtureOfExpertsClassifier,
    MixtureOfExpertsClassifierCV,
    MixtureOfExpertsRegressor,
    MixtureOfExpertsRegressorCV,
)
from mixexp import io as mio
from mixexp.datasets import make_local_classification, make_piecewise_linear
from mixexp.experts import (
    EstimatorExpert,
    GaussianProcessExpert,
    LinearExpert,
    LogisticExpert,
    PoissonExpert,
    StudentTExpert,
)
from mixexp.gates import ConstantGate, GaussianGate, SoftmaxGate

XR, YR = make_piecewise_linear(120, random_state=0)
XC, YC = make_local_classification(120, random_state=0)


def _model_kinds():
    """Every kind of fitted model mixexp makes, as (estimator, X, y)."""
    R, C = MixtureOfExpertsRegressor, MixtureOfExpertsClassifier
    frame = pd.DataFrame(XC, columns=[f"x{i}" for i in range(XC.shape[1])])
    kinds = {}
    for gate in [
        SoftmaxGate(),
        GaussianGate(),
        GaussianGate(covariance_type="diag"),
        GaussianGate(covariance_type="spherical"),
        ConstantGate(),
    ]:
        kinds[f"regressor, {gate!r}"] = (R(2, gate=gate), XR, YR)
        kinds[f"classifier, {gate!r}"] = (C(2, gate=gate), XC, YC)
    for expert in [
        LinearExpert(),
        LinearExpert(covariance_type="full", degree=2),
        StudentTExpert(),
        EstimatorExpert(Ridge()),
    ]:
        kinds[f"regressor, {expert!r}"] = (R(2, expert=expert), XR, YR)
        kinds[f"multi-output, {expert!r}"] = (
            R(2, expert=expert),
            XR,
            np.column_stack([YR, -YR]),
        )
    kinds["regressor, SVR()"] = (R(2, expert=SVR()), XR, YR)
    # Brute-force neighbours hold arrays only (a KDTree needs trusted=).
    kinds["regressor, KNeighborsRegressor()"] = (
        R(2, expert=KNeighborsRegressor(algorithm="brute")),
        XR,
        YR,
    )
    kinds["classifier, KNeighborsClassifier()"] = (
        C(2, expert=KNeighborsClassifier(algorithm="brute")),
        XC,
        YC,
    )
    counts = np.random.RandomState(0).poisson(np.exp(1 + 0.3 * YR))
    kinds["regressor, PoissonExpert()"] = (R(2, expert=PoissonExpert()), XR, counts)
    kinds["regressor, GaussianProcessExpert()"] = (
        R(2, expert=GaussianProcessExpert(), max_iter=5),
        XR,
        YR,
    )
    kinds["regressor, GaussianProcessExpert(Matern + RBF)"] = (
        R(2, expert=GaussianProcessExpert(Matern(nu=1.5) + 2.0 * RBF()), max_iter=5),
        XR,
        YR,
    )
    for expert in [LogisticExpert(), EstimatorExpert(LogisticRegression())]:
        kinds[f"classifier, {expert!r}"] = (C(2, expert=expert), XC, YC)
    kinds["classifier, LogisticRegression()"] = (
        C(2, expert=LogisticRegression()),
        XC,
        YC,
    )
    for solver in ["gd", "sgd", "adam"]:
        kinds[f"regressor, {solver}"] = (R(2, solver=solver), XR, YR)
        kinds[f"classifier, {solver}"] = (C(2, solver=solver), XC, YC)
    kinds["noisy top_k"] = (R(3, solver="adam", top_k=2, gate_noise=True), XR, YR)
    kinds["top_k"] = (R(3, top_k=2), XR, YR)
    kinds["features"] = (R(2, gate_features=[0], expert_features=[0]), XR, YR)
    kinds["hierarchical regressor"] = (
        HierarchicalMixtureOfExpertsRegressor(depth=2),
        XR,
        YR,
    )
    kinds["hierarchical classifier"] = (
        HierarchicalMixtureOfExpertsClassifier(depth=2),
        XC,
        YC,
    )
    kinds["hierarchical top_k"] = (
        HierarchicalMixtureOfExpertsRegressor(depth=2, top_k=2),
        XR,
        YR,
    )
    kinds["float32"] = (R(2), XR.astype(np.float32), YR.astype(np.float32))
    kinds["float32 classifier"] = (C(2), XC.astype(np.float32), YC)
    kinds["string labels"] = (C(2), XC, np.array(["a", "b"])[YC.astype(int)])
    kinds["pandas"] = (C(2), frame, YC)
    kinds["RandomState"] = (R(2, random_state=np.random.RandomState(0)), XR, YR)
    kinds["pipeline"] = (make_pipeline(StandardScaler(), R(2)), XR, YR)
    kinds["regressor CV"] = (MixtureOfExpertsRegressorCV((1, 2), cv=2), XR, YR)
    kinds["classifier CV"] = (MixtureOfExpertsClassifierCV((1, 2), cv=2), XC, YC)
    deep = dict(layers=(3, 2), hidden_units=4, max_iter=5)
    kinds["deep regressor"] = (DeepMixtureOfExpertsRegressor(**deep), XR, YR)
    kinds["deep multi-output"] = (
        DeepMixtureOfExpertsRegressor(**deep),
        XR,
        np.column_stack([YR, -YR]),
    )
    kinds["deep classifier, top_k"] = (
        DeepMixtureOfExpertsClassifier(top_k=(2, None), **deep),
        frame,
        np.array(["a", "b"])[YC.astype(int)],
    )
    return kinds


def _fit(model, X, y):
    for name in model.get_params():
        if name.endswith("max_iter"):
            model.set_params(**{name: 5})
    return model.fit(X, y)


def _fitted_kinds():
    for name, (model, X, y) in _model_kinds().items():
        yield name, _fit(model, X, y), X
    yield "partial_fit", MixtureOfExpertsRegressor(2).partial_fit(XR, YR), XR
    yield (
        "partial_fit classifier",
        MixtureOfExpertsClassifier(2).partial_fit(XC, YC, classes=[0, 1]),
        XC,
    )


def _nodes(state):
    """Every node of a skops schema, with the container and key holding it."""
    found = []

    def walk(value, parent, key):
        if isinstance(value, dict):
            if "__loader__" in value and parent is not None:
                found.append((parent, key))
            for k, v in value.items():
                walk(v, value, k)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, value, i)

    walk(state, None, None)
    return found


def _schema(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("schema.json"))


def _sklearn_estimator_types():
    """(module, class) of scikit-learn's estimator and transformer classes."""
    return {
        (cls.__module__, cls.__name__)
        for _, cls in all_estimators()
        if issubclass(cls, BaseEstimator)
    }


def _outputs(model, X):
    outputs = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        outputs.append(model.predict_proba(X))
    return outputs


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_model_kind_loads_and_its_types_are_listed(tmp_path):
    sklearn_types = _sklearn_estimator_types()
    for name, model, X in _fitted_kinds():
        path = tmp_path / "model.skops"
        mio.dump(model, path)
        schema = _schema(path)
        types = {
            (node["__module__"], node["__class__"], node["__loader__"])
            for node in [schema] + [parent[key] for parent, key in _nodes(schema)]
        }
        unlisted = {
            t
            for t in types
            if t[2] not in mio._ALLOWED.get(t[:2], ())
            and not (t[2] == "ObjectNode" and t[:2] in sklearn_types)
        }
        assert not unlisted, f"{name}: list these in mixexp.io._ALLOWED: {unlisted}"
        loaded = mio.load(path)
        assert type(loaded) is type(model)
        for left, right in zip(_outputs(loaded, X), _outputs(model, X), strict=True):
            np.testing.assert_array_equal(left, right)


def test_the_allow_list_names_classes_that_exist():
    public = {
        (obj.__module__, obj.__qualname__)
        for module in (mixexp, mixexp.gates, mixexp.experts)
        for obj in map(module.__dict__.get, module.__all__)
        if isinstance(obj, type)
    }
    listed = {name for name in mio._ALLOWED if name[0].startswith("mixexp")}
    assert listed == public
    for (module, name), loaders in mio._ALLOWED.items():
        obj = getattr(importlib.import_module(module), name)
        assert isinstance(obj, type), (module, name)
        assert loaders, (module, name)
        # loaders that call the named object, or hand back a function, never
        assert not loaders & {
            "ConstructorFromReduceNode", "LossNode", "TreeNode", "FunctionNode",
            "MethodNode", "PartialNode", "OperatorFuncNode",
        }  # fmt: skip


class _Pickled:
    """Unpickling this runs a shell command, as an attacker's pickle would."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _json(value):
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _function(module, name):
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def _state(value):
    """The skops state of a plain value, with nodes passed through."""
    if isinstance(value, dict) and "__loader__" in value:
        return value
    if isinstance(value, list | tuple):
        loader = "ListNode" if isinstance(value, list) else "TupleNode"
        return {
            "__class__": type(value).__name__,
            "__module__": "builtins",
            "__loader__": loader,
            "content": [_state(v) for v in value],
        }
    if isinstance(value, dict):
        return {
            "__class__": "dict",
            "__module__": "builtins",
            "__loader__": "DictNode",
            "content": {k: _state(v) for k, v in value.items()},
            "key_types": _state([]),
        }
    return _json(value)


def _bytes(member):
    return {
        "__class__": "bytes",
        "__module__": "builtins",
        "__loader__": "BytesNode",
        "file": member,
    }


MODULE = "mixexp_evil_payload"


def _payloads(tmp_path, marker):
    """Dangerous callables, each with arguments that create ``marker``."""
    command = f"touch {shlex.quote(str(marker))}"
    code = f"open({str(marker)!r}, 'w').close()"
    (tmp_path / f"{MODULE}.py").write_text(code)
    script = tmp_path / "script.py"
    script.write_text(code)
    pickled = tmp_path / "beside.npy"
    pickled.write_bytes(pickle.dumps(_Pickled(command)))
    victim = tmp_path / "victim"
    return [
        ("os", "system", [command]),
        ("posix", "system", [command]),
        ("os", "popen", [command]),
        ("os", "mkdir", [str(marker)]),
        ("subprocess", "Popen", [["touch", str(marker)]]),
        ("subprocess", "run", [["touch", str(marker)]]),
        ("subprocess", "getoutput", [command]),
        ("builtins", "eval", [code]),
        ("builtins", "exec", [code]),
        ("builtins", "open", [str(marker), "w"]),
        ("builtins", "__import__", [MODULE]),
        ("importlib", "import_module", [MODULE]),
        ("runpy", "run_path", [str(script)]),
        ("runpy", "run_module", [MODULE]),
        ("code", "InteractiveInterpreter", [{}]),
        ("pickle", "loads", [_bytes("payload.bin")]),
        ("shutil", "rmtree", [str(victim)]),
        ("functools", "partial", [_function("os", "system"), command]),
        ("operator", "attrgetter", ["system"]),
        ("operator", "methodcaller", ["system", command]),
        ("sys", "modules", []),
        ("numpy", "load", [str(pickled), None, True]),
        ("numpy.lib._npyio_impl", "load", [str(pickled), None, True]),
        ("numpy.testing._private.utils", "runstring", [code, {}]),
        ("numpy.testing", "rundocs", [str(script)]),
        ("numpy.testing._private.utils", "os", []),
        ("numpy", "save", [str(marker), [1.0]]),
        ("numpy", "savetxt", [str(marker), [1.0]]),
        ("scipy.io", "savemat", [str(marker), {}]),
        ("numpy.testing", "x", []),
        ("scipy", "something", []),
        ("sklearn.utils._testing", "MinimalRegressor", []),
        ("sklearn.utils", "all_estimators", []),
        ("mixexp._cli", "main", [["--help"]]),
        ("mixexp.io", "_skops", []),
    ]


def _call(module, name, args, loader="ConstructorFromReduceNode"):
    """A node that makes skops call ``module.name(*args)`` (or use it)."""
    node = {"__class__": name, "__module__": module, "__loader__": loader}
    if loader == "ConstructorFromReduceNode":
        node["content"] = _state(tuple(args))
    elif loader in ("LossNode", "TreeNode"):
        node["__reduce__"] = {"args": _state(tuple(args))}
        node["content"] = _state({})
    elif loader in ("ObjectNode", "RandomStateNode"):
        node["content"] = _state({})
    elif loader in ("DictNode", "ListNode", "TupleNode", "SetNode"):
        node["content"] = _state({} if loader == "DictNode" else args)["content"]
        if loader == "DictNode":
            node["key_types"] = _state([])
    elif loader == "NdArrayNode":
        node.update(type="numpy", file="array.npy")
    elif loader == "PartialNode":
        node["content"] = {
            "func": _function(module, name),
            "args": _state(tuple(args)),
            "kwds": _state({}),
            "namespace": _json(None),
        }
    elif loader == "OperatorFuncNode":
        node["attrs"] = _state(tuple(args))
    elif loader == "DTypeNode":
        node["content"] = _call("numpy", "ndarray", [], "NdArrayNode")
    return node


LOADERS = [
    "ConstructorFromReduceNode",
    "LossNode",
    "TreeNode",
    "ObjectNode",
    "RandomStateNode",
    "FunctionNode",
    "TypeNode",
    "DictNode",
    "ListNode",
    "TupleNode",
    "SetNode",
    "NdArrayNode",
    "PartialNode",
    "OperatorFuncNode",
    "DTypeNode",
]


class _Crafter:
    """Rewrites one saved model's schema and checks that load refuses it."""

    def __init__(self, tmp_path, model):
        self.tmp_path = tmp_path
        self.marker = tmp_path / "marker.npy"
        self.victim = tmp_path / "victim"
        self.victim.mkdir()
        saved = tmp_path / "saved.skops"
        mio.dump(model, saved)
        with zipfile.ZipFile(saved) as archive:
            self.members = {
                name: archive.read(name)
                for name in archive.namelist()
                if name != "schema.json"
            }
        self.schema = _schema(saved)
        self.members["payload.bin"] = pickle.dumps(_Pickled("true"))
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(2))
        self.members["array.npy"] = buffer.getvalue()
        self.path = tmp_path / "crafted.skops"
        self.attempts = 0

    def write(self):
        """Write the members and the (rewritten) schema to ``self.path``."""
        members = tuple(self.members.items())
        if getattr(self, "_base", (None,))[0] != members:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for name, data in members:
                    archive.writestr(name, data)
            self._base = members, buffer.getvalue()
        buffer = io.BytesIO(self._base[1])
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr("schema.json", json.dumps(self.schema))
        self.path.write_bytes(buffer.getvalue())

    def refuses(self, parent, key, node):
        """Put ``node`` at ``parent[key]`` and check that load refuses it."""
        original, parent[key] = parent[key], node
        try:
            self.write()
        finally:
            parent[key] = original
        self.attempts += 1
        where = f"{node['__module__']}.{node['__class__']} as {node['__loader__']}"
        refusal = None
        try:
            mio.load(self.path)
        except TypeError as error:
            refusal = str(error)
        finally:
            self.check_harmless(where)  # first: say so if the payload ran
        assert refusal and "does not trust" in refusal, f"{where} was not refused"

    def refuses_each(self, parent, key, nodes):
        """Put a list of ``nodes`` at ``parent[key]``; load must refuse the
        file and name every one of them."""
        original, parent[key] = parent[key], _state(list(nodes))
        try:
            self.write()
        finally:
            parent[key] = original
        self.attempts += len(nodes)
        with pytest.raises(TypeError, match="does not trust") as error:
            mio.load(self.path)
        for node in nodes:
            name = f"{node['__module__']}.{node['__class__']} ({node['__loader__']})"
            assert name in str(error.value)
        self.check_harmless(f"one of {len(nodes)} nodes")

    def check_harmless(self, where):
        created = sorted(p.name for p in self.tmp_path.glob("marker*"))
        assert not created, f"{where} ran code: {created}"
        assert self.victim.is_dir(), f"{where} removed a directory"
        assert MODULE not in sys.modules, f"{where} imported a module"


@pytest.fixture
def crafter(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    model = _fit(
        make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(2)), XR[:60], YR[:60]
    )
    yield _Crafter(tmp_path, model)
    sys.modules.pop(MODULE, None)


def test_every_node_refuses_every_dangerous_callable(crafter):
    """Each node of a saved Pipeline, renamed to each payload or replaced by
    calls of all payloads, makes load refuse the file; no payload runs."""
    payloads = _payloads(crafter.tmp_path, crafter.marker)
    nodes = _nodes(crafter.schema)
    assert len(nodes) > 100
    for parent, key in nodes:
        crafter.refuses_each(parent, key, [_call(*payload) for payload in payloads])
        for module, name, _ in payloads:
            renamed = dict(parent[key], __module__=module, __class__=name)
            crafter.refuses(parent, key, renamed)
    time.sleep(0.2)  # a Popen that slipped through would have touched by now
    crafter.check_harmless("a payload")
    assert crafter.attempts == 2 * len(nodes) * len(payloads)


@pytest.mark.parametrize("where", ["estimator", "leaf"])
def test_every_loader_refuses_every_dangerous_callable(crafter, where):
    """Each payload under each loader skops has (calling, constructing or
    handing back the named object), at the root estimator and at a leaf."""
    content = crafter.schema["content"]
    if where == "estimator":
        parent, key = content, "estimator"
    else:
        parent, key = _nodes(content["estimator"])[-1]
    payloads = _payloads(crafter.tmp_path, crafter.marker)
    for loader in LOADERS:
        for module, name, args in payloads:
            crafter.refuses(parent, key, _call(module, name, args, loader))
    assert crafter.attempts == len(LOADERS) * len(payloads)


@pytest.mark.parametrize(
    "module, name, loader",
    [
        # a numpy function passed off as a class, under each class loader
        ("numpy", "load", "ObjectNode"),
        ("numpy", "load", "NdArrayNode"),
        ("numpy", "load", "TypeNode"),
        # listed classes, paired with a loader that calls or returns functions
        ("mixexp._regressor", "MixtureOfExpertsRegressor", "FunctionNode"),
        ("numpy", "ndarray", "ConstructorFromReduceNode"),
        ("builtins", "dict", "ConstructorFromReduceNode"),
        ("numpy.random.mtrand", "RandomState", "ConstructorFromReduceNode"),
        ("sklearn.svm._classes", "SVR", "FunctionNode"),
        ("sklearn.svm._classes", "SVR", "ConstructorFromReduceNode"),
        # a scikit-learn function, and a class that is not an estimator
        ("sklearn.utils.discovery", "all_estimators", "ObjectNode"),
        ("sklearn.utils._testing", "MinimalRegressor", "ObjectNode"),
        ("sklearn.tree._tree", "Tree", "TreeNode"),
        # mixexp names that are not its public classes
        ("mixexp._base", "BaseMixture", "ObjectNode"),
        ("mixexp.io", "_skops", "FunctionNode"),
        ("mixexp", "__version__", "TypeNode"),
    ],
)
def test_names_off_the_list_are_refused(crafter, module, name, loader):
    parent, key = crafter.schema["content"], "estimator"
    crafter.refuses(parent, key, _call(module, name, [], loader))


def test_an_object_array_member_is_refused_without_unpickling(crafter):
    """An array member holding a pickle is never unpickled."""
    name = next(n for n in crafter.members if n.endswith(".npy"))
    crafter.members[name] = pickle.dumps(_Pickled(f"touch {crafter.marker}"))
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Pickled(f"touch {crafter.marker}")]), allow_pickle=True)
    for data in [crafter.members[name], buffer.getvalue()]:
        crafter.members[name] = data
        crafter.write()
        with pytest.raises(ValueError, match="damaged") as error:
            mio.load(crafter.path)
        assert type(error.value) is ValueError
        crafter.check_harmless("an object array")


def _damage(path, how):
    """Damage a saved model the way ``how`` names."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    if how == "not a zip":
        return path.write_bytes(b"just some text, not a model\n" * 20)
    if how == "empty":
        return path.write_bytes(b"")
    if how == "truncated":
        return path.write_bytes(data[: len(data) // 2])
    if how == "no schema.json":
        del members["schema.json"]
    elif how == "no array member":
        del members[next(n for n in members if n.endswith(".npy"))]
    elif how == "broken JSON":
        members["schema.json"] = members["schema.json"][:-20]
    elif how == "JSON not an object":
        members["schema.json"] = b"[1, 2, 3]"
    elif how == "JSON not UTF-8":
        members["schema.json"] = b"\xff\xfe{}"
    elif how == "node without loader":
        del schema["content"]["estimator"]["__loader__"]
    elif how == "node not an object":
        schema["content"]["estimator"] = 7
    elif how == "array not npy":
        members[next(n for n in members if n.endswith(".npy"))] = b"not an array"
    elif how == "array truncated":
        name = next(n for n in members if n.endswith(".npy"))
        members[name] = members[name][:-8]
    elif how == "bad protocol":
        schema["protocol"] = "two"
    elif how == "future protocol":
        schema["protocol"] = 999
    elif how == "header not a flag":
        schema["content"]["mixexp_model"] = _json("yes")
    elif how == "no header":
        del schema["content"]["mixexp_model"]
    elif how == "format not a number":
        schema["content"]["format"] = _json("one")
    if how not in ("no schema.json", "broken JSON", "JSON not an object"):
        if how != "JSON not UTF-8":
            members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, member in members.items():
            archive.writestr(name, member)


DAMAGE = [
    "not a zip",
    "empty",
    "truncated",
    "no schema.json",
    "no array member",
    "broken JSON",
    "JSON not an object",
    "JSON not UTF-8",
    "node without loader",
    "node not an object",
    "array not npy",
    "array truncated",
    "bad protocol",
    "future protocol",
    "header not a flag",
    "no header",
    "format not a number",
]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_file_is_one_clear_value_error(tmp_path, how):
    model = _fit(MixtureOfExpertsRegressor(2), XR, YR)
    path = tmp_path / "model.skops"
    mio.dump(model, path)
    _damage(path, how)
    with pytest.raises(ValueError) as error:
        mio.load(path)
    assert type(error.value) is ValueError  # not BadZipFile, JSONDecodeError...
    message = str(error.value)
    assert str(path) in message
    assert "damaged or was not written by mixexp.io.dump" in message


def test_a_missing_file_is_reported_as_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        mio.load(tmp_path / "absent.skops")


def test_trusted_names_extend_the_list_exactly(tmp_path):
    """A tree expert needs sklearn's Tree, which the caller must name; naming
    it loads the model and trusts nothing else."""
    model = _fit(MixtureOfExpertsRegressor(2, expert=DecisionTreeRegressor()), XR, YR)
    path = tmp_path / "model.skops"
    mio.dump(model, path)
    with pytest.raises(TypeError, match=r"sklearn\.tree\._tree\.Tree"):
        mio.load(path)
    loaded = mio.load(path, trusted=["sklearn.tree._tree.Tree"])
    np.testing.assert_array_equal(loaded.predict(XR), model.predict(XR))
    with pytest.raises(TypeError, match="does not trust"):
        mio.load(path, trusted=["sklearn.tree._tree.Tre"])
    with pytest.raises(TypeError, match="list"):
        mio.load(path, trusted=True)
