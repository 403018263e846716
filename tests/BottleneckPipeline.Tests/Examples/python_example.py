"""Runs the Python lines of docs/using-the-model.md, verbatim, on image files, with one change:
onnxruntime (not installable here) is replaced by a small evaluator that reads model.onnx with the
onnx package and executes its graph with torch.nn.functional. So the lines' own preprocessing
(Pillow, numpy) and the exported graph both run; ONNX Runtime's Python package itself does not.

    python3 python_example.py [--save-pixels FILE] docs/using-the-model.md model.onnx IMAGE...

prints one line per image: path, tab, label, tab, probability (what the doc's lines print);
--save-pixels also writes the pixels the lines fed the model, float32 [N, 3, S, S] in image order.

    python3 python_example.py --graph model.onnx PIXELS

runs the graph alone on such a file of pixels and prints each image's probabilities, one line each:
the evaluator checked against ONNX Runtime on identical input.
Only the operators the pipeline's exported ResNet-18 holds are implemented; a model with any other
operator (or an unsupported attribute) is refused before anything runs, naming them.
"""
import contextlib
import io
import re
import sys
import types

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pads_2d(pads):
    """ONNX pads [top, left, bottom, right] as F.pad's (left, right, top, bottom)."""
    top, left, bottom, right = pads
    return (left, right, top, bottom)


def conv(node, a, x, w, b=None):
    require(node, a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad other than NOTSET")
    require(node, x.dim() == 4, "a input that is not 4-D")
    x = F.pad(x, pads_2d(a.get("pads", [0, 0, 0, 0])))
    return F.conv2d(x, w, b, stride=a.get("strides", [1, 1]), dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))


def batch_norm(node, a, x, scale, bias, mean, var):
    require(node, a.get("spatial", 1) == 1, "spatial=0")
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=a.get("epsilon", 1e-5))


def max_pool(node, a, x):
    require(node, a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad other than NOTSET")
    require(node, a.get("storage_order", 0) == 0 and a.get("dilations", [1, 1]) == [1, 1], "storage_order or dilations")
    x = F.pad(x, pads_2d(a.get("pads", [0, 0, 0, 0])), value=float("-inf"))
    return F.max_pool2d(x, a["kernel_shape"], stride=a.get("strides", [1, 1]), ceil_mode=bool(a.get("ceil_mode", 0)))


def average_pool(node, a, x):
    require(node, a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad other than NOTSET")
    require(node, not any(a.get("pads", [0, 0, 0, 0])), "padding")
    return F.avg_pool2d(x, a["kernel_shape"], stride=a.get("strides", [1, 1]), ceil_mode=bool(a.get("ceil_mode", 0)))


def gather(node, a, data, indices):
    axis = a.get("axis", 0) % data.dim()
    flat = indices.long().flatten() % data.shape[axis]
    return data.index_select(axis, flat).reshape(data.shape[:axis] + indices.shape + data.shape[axis + 1:])


def flatten(node, a, x):
    axis = a.get("axis", 1) % (x.dim() + 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def gemm(node, a, x, w, c=None):
    x = x.t() if a.get("transA", 0) else x
    w = w.t() if a.get("transB", 0) else w
    y = a.get("alpha", 1.0) * (x @ w)
    return y if c is None else y + a.get("beta", 1.0) * c


def softmax(node, a, x, opset):
    if opset >= 13:
        return F.softmax(x, dim=a.get("axis", -1))
    axis = a.get("axis", 1) % x.dim()  # before opset 13: softmax over everything from axis on, flattened
    return F.softmax(x.reshape(int(np.prod(x.shape[:axis])), -1), dim=1).reshape(x.shape)


def elementwise(fn, broadcast_note):
    def run(node, a, x, y):
        require(node, "broadcast" not in a and "axis" not in a, broadcast_note)
        return fn(x, y)
    return run


OPERATORS = {
    "Conv": conv,
    "BatchNormalization": batch_norm,
    "Relu": lambda node, a, x: F.relu(x),
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "Add": elementwise(torch.add, "opset 6 broadcast attributes"),
    "Sub": elementwise(torch.sub, "opset 6 broadcast attributes"),
    "Gather": gather,
    "Identity": lambda node, a, x: x,
    "Flatten": flatten,
    "Gemm": gemm,
    "Softmax": softmax,
}


class Unsupported(Exception):
    pass


def require(node, ok, what):
    if not ok:
        raise Unsupported(f"{node.op_type} node {node.name or node.output[0]} uses {what}, which this evaluator does not implement")


def needed(graph, output):
    """The nodes an output depends on, in graph order."""
    producer = {o: n for n in graph.node for o in n.output}
    keep, pending = set(), [output]
    while pending:
        node = producer.get(pending.pop())
        if node is None or id(node) in keep:
            continue
        keep.add(id(node))
        pending.extend(i for i in node.input if i)
    return [n for n in graph.node if id(n) in keep]


class TorchSession:
    """What the doc's lines use of onnxruntime.InferenceSession: get_modelmeta() and run()."""

    def __init__(self, path, record=None):
        self.record = record  # a file that keeps every input fed, for the test to compare
        self.model = onnx.load(path)
        graph = self.model.graph
        self.opset = max((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), default=1)
        # Only what the probabilities need: the unknown rule's outputs (unknown_score, unknown) are left to a full runtime.
        self.nodes = needed(graph, "probabilities")
        unknown = sorted({n.op_type for n in self.nodes if n.domain not in ("", "ai.onnx") or n.op_type not in OPERATORS})
        if unknown:
            raise Unsupported(f"{path} holds operators this evaluator does not implement: {', '.join(unknown)}")
        for node in self.nodes:
            if len([o for o in node.output if o]) != 1:
                raise Unsupported(f"{node.op_type} node {node.name or node.output[0]} has {len(node.output)} outputs; only one is implemented")
        self.weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}

    def get_modelmeta(self):
        return types.SimpleNamespace(custom_metadata_map={p.key: p.value for p in self.model.metadata_props})

    def run(self, output_names, feed):
        if self.record:
            self.record.write(np.ascontiguousarray(feed["pixels"], dtype=np.float32).tobytes())
        values = dict(self.weights)
        values.update({name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in feed.items()})
        with torch.no_grad():
            for node in self.nodes:
                inputs = [values[i] if i else None for i in node.input]
                while inputs and inputs[-1] is None:
                    inputs.pop()
                extra = {"opset": self.opset} if node.op_type == "Softmax" else {}
                values[node.output[0]] = OPERATORS[node.op_type](node, attributes(node), *inputs, **extra)
        names = output_names or [o.name for o in self.model.graph.output]
        return [values[n].numpy() for n in names]


def python_lines(doc):
    """The first ```python block of the doc: the lines a reader copies."""
    with open(doc, encoding="utf-8") as f:
        match = re.search(r"```python\n(.*?)```", f.read(), re.S)
    if not match:
        sys.exit(f"{doc} has no ```python block")
    return match.group(1)


def graph_only(model, pixels_file):
    session = TorchSession(model)
    size = int(session.get_modelmeta().custom_metadata_map["input_size"])
    pixels = np.fromfile(pixels_file, dtype=np.float32).reshape(-1, 3, size, size)
    for probabilities in session.run(["probabilities"], {"pixels": pixels})[0]:
        print(" ".join(repr(float(p)) for p in probabilities))


def main():
    args = sys.argv[1:]
    if args[:1] == ["--graph"] and len(args) == 3:
        return graph_only(args[1], args[2])
    record = None
    if args[:1] == ["--save-pixels"] and len(args) > 1:
        record, args = open(args[1], "wb"), args[2:]
    if len(args) < 3:
        sys.exit(__doc__)
    doc, model, images = args[0], args[1], args[2:]
    code = compile(python_lines(doc), doc, "exec")
    sessions = {}

    def session(path):  # one graph load for all the images
        if path not in sessions:
            sessions[path] = TorchSession(path, record)
        return sessions[path]

    stand_in = types.ModuleType("onnxruntime")
    stand_in.InferenceSession = session
    sys.modules["onnxruntime"] = stand_in
    for image in images:
        sys.argv = ["classify.py", model, image]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, {"__name__": "__main__"})
        label, probability = out.getvalue().strip().rsplit(" ", 1)
        print(f"{image}\t{label}\t{probability}", flush=True)
    if record:
        record.close()


if __name__ == "__main__":
    try:
        main()
    except Unsupported as e:
        sys.exit(f"python_example: {e}")
