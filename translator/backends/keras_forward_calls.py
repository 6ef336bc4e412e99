"""torch functions and tensor methods inside `forward` (the torch -> Keras direction): the part of
the ForwardTranslator that turns `torch.*` / `F.*` calls and tensor methods into keras.ops and
Keras layers (flatten/view/reshape, cat, permute/transpose, reductions, functional pools and pads,
the op rules of rules/ops.yaml; other ops go through the hatch registry of keras_forward_ops.py).
ForwardTranslator (keras_forward.py) inherits this mixin.
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, dim_prod
from ..positions import line_of
from ..frontends.torch_models import resolve
from ..rules.transforms import INVERSES, VALUE_TRANSFORMS
from .keras_code import OTHER, Meta, call, code, keras_axis, node_of, tensor
from . import keras_forward_tlists as tlists
from .keras_layers import _pretty, flat_meta, loosely_equal
from . import keras_forward_rnn as rnn_fwd
from .keras_forward_base import (REVERSIBLE_OP_EMITS, _PoolSpec, _TORCH_TABLE, _const, _const_arg, _ops, convert,
                                 materialize, transpose)


class TorchCalls:
    # -- torch functions and tensor methods --
    def torch_function(self, path: str, node: cst.Call):
        line = line_of(node)
        if path in rnn_fwd.TORCH_FUNCTIONS:         # cat of a list of images / a slice of a list
            done = tlists.torch_function(self, path, node)
            if done is not None:
                return done
        if path in rnn_fwd.TORCH_FUNCTIONS:         # stack/cat of a list built in forward (keras_forward_rnn.py)
            done = rnn_fwd.torch_function(self, path, node)
            if done is not None:
                return done
        short = path.rsplit(".", 1)[-1]
        if path == "torch.flatten":
            args = self.tensors_of(node)
            (_, x, m), rest = args[0], args[1:]
            start = _const_arg(rest, "start_dim", 0, 0, line)
            end = _const_arg(rest, "end_dim", 1, -1, line)
            return self.flatten(x, m, start, end, line)
        if path == "torch.cat":
            return self.concat(node)
        if path in ("torch.nn.functional.max_pool2d", "torch.nn.functional.avg_pool2d",
                    "torch.nn.functional.max_pool1d", "torch.nn.functional.avg_pool1d"):
            return self.functional_pool(short, node)
        if path in ("torch.nn.functional.adaptive_avg_pool2d", "torch.nn.functional.adaptive_avg_pool1d",
                    "torch.nn.functional.adaptive_max_pool2d", "torch.nn.functional.adaptive_max_pool1d"):
            return self.functional_global_pool(short, node)
        if path == "torch.nn.functional.pad":
            return self.functional_pad(node)
        done = _ops().dispatch(self, path, node)          # torch -> Keras op hatches (keras_forward_ops.py)
        if done is not None:
            return done
        rule = self.ctx.owner.index.functions.get(path)
        if rule is not None:
            return self.op(rule, path, node)
        raise TranslationError("FWT102", f"{path} has no torch -> Keras translation yet", line)

    def functional_pad(self, node: cst.Call):
        """F.pad(x, (left, right, top, bottom, ...), value=v) -> keras.ops.pad with one pair per Keras axis."""
        line = line_of(node)
        args = self.tensors_of(node)
        (_, x, meta), rest = args[0], args[1:]
        names = ["pad", "mode", "value"]
        bound = {}
        for i, (k, n, _) in enumerate(rest):
            bound[k or names[i]] = _const(n)
        pad, mode, value = bound.get("pad", UNKNOWN), bound.get("mode", "constant"), bound.get("value", None)
        if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(isinstance(v, int) for v in pad):
            raise TranslationError("FWT202", "F.pad: a constant tuple of pads expected", line)
        if mode != "constant" or value is UNKNOWN:
            raise TranslationError("FWT202", f"F.pad(mode={mode!r}): only constant padding translates", line)
        if not meta.is_tensor:
            raise TranslationError("FWT103", "F.pad of a non-tensor", line)
        if meta.rank is None:
            err = TranslationError("FWT302", "F.pad: the rank of the tensor is not known", line)
            if meta.origin is None:
                raise err
            # a model input: assume an image of that many padded axes for now; the layer that consumes it
            # decides the input's layout and rank (and the pass reruns), else the error stands
            self.deferred.append(err)
            meta = tensor(2 + len(pad) // 2, origin=meta.origin)
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        rank = meta.rank
        pairs = [[0, 0] for _ in range(rank)]
        for k in range(len(pad) // 2):
            axis = rank - 1 - k
            if axis < 0:
                raise TranslationError("FWT202", "F.pad: more pads than axes", line)
            pairs[keras_axis(axis, meta) % rank] = [pad[2 * k], pad[2 * k + 1]]
        kwargs = [("constant_values", node_of(value))] if value not in (None, 0, 0.0) else []
        shape = meta.shape
        if shape is not None:
            shape = list(shape)
            for k in range(len(pad) // 2):
                axis = rank - 1 - k
                if isinstance(shape[axis], int):
                    shape[axis] += pad[2 * k] + pad[2 * k + 1]
            shape = tuple(shape)
        nonneg = meta.nonneg and (value in (None, 0, 0.0) or isinstance(value, (int, float)) and value >= 0)
        return call(self.refs.ops("pad"), [x, node_of(pairs)], kwargs), meta.with_(shape=shape, nonneg=nonneg)

    def tensor_method(self, name: str, x, meta: Meta, node: cst.Call):
        line = line_of(node)
        done = _ops().dispatch(self, "." + name, node, receiver=(x, meta))
        if done is not None:
            return done
        rest = self.tensors_of(node)
        if name in ("view", "reshape"):
            return self.reshape(x, meta, rest, line)
        if name == "flatten":
            start = _const_arg(rest, "start_dim", 0, 0, line)
            end = _const_arg(rest, "end_dim", 1, -1, line)
            return self.flatten(x, meta, start, end, line)
        if name == "size":
            if not rest:
                return x, Meta(kind="shape", info=(x, meta))
            index = _const_arg(rest, "dim", 0, None, line)
            return self.size_of(x, meta, index, line)
        if name == "contiguous" and not rest:
            return x, meta
        if name in ("permute", "transpose"):
            return self.permute(name, x, meta, rest, line)
        if name in ("mean", "sum", "amax", "amin"):
            return self.reduce(name, x, meta, rest, line)
        path = resolve(cst.parse_expression(f"torch.{name}"), _TORCH_TABLE)
        rule = self.ctx.owner.index.functions.get(path)
        if rule is not None:
            fake = node.with_changes(func=cst.parse_expression(f"torch.{name}"),
                                     args=[cst.Arg(x)] + list(node.args))
            return self.op(rule, path, fake, first=(x, meta))
        raise TranslationError("FWT102", f"tensor method .{name}() has no torch -> Keras translation yet", line)

    def op(self, rule, path: str, node: cst.Call, first=None):
        """A torch function with an op rule: keras.ops.X with the rule's params (axis remapped)."""
        line = line_of(node)
        if rule.emit and rule.emit not in REVERSIBLE_OP_EMITS:
            raise TranslationError("FWT102", f"{path} has no torch -> Keras translation yet (its rule "
                                             f"'{rule.id}' is emitted by code in the other direction)", line)
        torch_params = [p for p in rule.params if p.torch or p.value in ("tensor", "tensors")]
        given = {}
        args = list(node.args)
        for i, a in enumerate(args):
            if a.keyword is None:
                if i >= len(torch_params):
                    raise TranslationError("FWT201", f"{path}: too many positional arguments", line)
                given[torch_params[i].torch or "input"] = a.value
            else:
                given[a.keyword.value] = a.value
        known = {p.torch or "input" for p in torch_params}
        for k in list(given):
            if k not in known:
                if k == "inplace":
                    given.pop(k)
                    continue
                if k == "approximate" and path == "torch.nn.functional.gelu":
                    continue
                raise TranslationError("FWT201", f"{path}: argument '{k}' not translated", line)
        positional, keywords, tensor_meta = [], [], None
        for i, p in enumerate(rule.params):
            if p.torch is None and p.value not in ("tensor", "tensors"):
                continue
            value = given.get(p.torch or "input")
            if p.value in ("tensor", "tensors"):
                if value is None:
                    raise TranslationError("FWT201", f"{path}: missing {p.torch or 'input'}", line)
                if first is not None and i == 0:
                    n, m = first
                else:
                    n, m = self.expr(value)
                if m.is_tensor and m.flat is not None and rule.layout != "any":
                    n, m = materialize(self.refs, n, m, self.notes, line)
                if m.is_tensor and rule.layout == "cl" and m.layout == "cf" and (m.rank or 0) > 2:
                    n, m = convert(self.refs, n, m, "same", self.notes, line)
                tensor_meta = tensor_meta or m
                positional.append(n)
                continue
            if value is None:
                if p.has_torch_default:
                    tv = p.torch_default
                else:
                    if p.value == "axis":
                        raise TranslationError("FWT202", f"{path}: {p.torch} must be given (the implicit "
                                                         "dimension is deprecated)", line)
                    continue
            else:
                tv = _const(value)
                if tv is UNKNOWN:
                    raise TranslationError("FWT202", f"{path}: {p.torch} must be a constant", line)
            if p.value == "axis":
                if tensor_meta is None or not tensor_meta.is_tensor:
                    raise TranslationError("FWT202", f"{path}: axis of a non-tensor", line)
                try:
                    kv = keras_axis(tv, tensor_meta)
                except ValueError:
                    raise TranslationError("FWT302", f"{path}: the rank of the tensor is not known", line)
            else:
                inverse = INVERSES.get(p.value)
                if inverse is None:
                    raise TranslationError("FWT202", f"{path}: {p.torch} has no inverse value transform", line)
                kv = VALUE_TRANSFORMS[inverse](tv)
            if p.keras and not loosely_equal(kv, p.default):
                keywords.append((p.keras, node_of(kv)))
        if path == "torch.nn.functional.gelu":
            approx = _const(given["approximate"]) if "approximate" in given else "none"
            if approx not in ("none", "tanh"):
                raise TranslationError("FWT202", f"F.gelu(approximate={approx!r})", line)
            if approx == "none":
                keywords.append(("approximate", node_of(False)))
        keras_path = rule.keras[0]
        out = tensor_meta if tensor_meta is not None else OTHER
        if out.is_tensor and rule.layout == "cl" or out.is_tensor and rule.shape not in ("same", "unknown") \
                and rule.layout != "axis":
            out = tensor(None)          # a reshaping op: nothing known of the result but its order
        elif out.is_tensor:
            out = out.with_(origin=out.origin if rule.layout == "any" else None,
                            nonneg=rule.id in ("op_relu", "op_sigmoid", "op_softmax", "op_relu6"))
        return call(self.refs.keras(keras_path[len("keras."):]), positional, keywords), out

    def flatten(self, x, meta: Meta, start, end, line):
        if (start, end) != (1, -1) and meta.is_tensor and (start, end) != (1, (meta.rank or 0) - 1):
            return _ops().flatten_range(self, x, meta, start, end, line)
        if start != 1 or end != -1:
            raise TranslationError("FWT202", f"flatten(start_dim={start}, end_dim={end}): only start_dim=1 "
                                             "translates", line)
        if not meta.is_tensor:
            raise TranslationError("FWT103", "flatten of a non-tensor", line)
        if isinstance(meta.info, tuple) and meta.info[0] == "squeezable":
            attr = meta.info[1]
            self.squeeze_uses[attr] = self.squeeze_uses.get(attr, 0) + 1
            if isinstance(x, cst.Name):
                self.squeeze_flattens[attr] = self.squeeze_flattens.get(attr, 0) + 1
        if meta.rank == 2 and meta.layout == "same" and meta.flat is None:
            return x, meta
        attr = self.cls.flatten_layer()
        return cst.Call(cst.Attribute(cst.Name("self"), cst.Name(attr)), [cst.Arg(x)]), flat_meta(meta)

    def reshape(self, x, meta: Meta, rest, line):
        if len(rest) == 1 and rest[0][2].kind == "tuple":
            node = rest[0][1]
            items = [(None, el.value, m) for el, m in zip(node.elements, rest[0][2].items)]
        else:
            items = rest
        if any(k is not None for k, _, _ in items):
            raise TranslationError("FWT103", "keyword arguments in view/reshape", line)
        if len(items) == 2 and items[0][2].kind == "size" and items[0][2].info[0] == "batch" \
                and _const(items[1][1]) == -1:
            return self.flatten(x, meta, 1, -1, line)
        dims = [_const(n) if m.kind == "const" or isinstance(n, (cst.UnaryOperation, cst.Integer, cst.BinaryOperation)) and
                _const(n) is not UNKNOWN else UNKNOWN for _, n, m in items]
        if meta.layout == "cf" and (meta.rank or 0) > 2 and len(items) == 2 and dims[0] == -1 and \
                isinstance(dims[1], int) and dims[1] > 0:
            return self.flat_view(x, meta, items[1][1], dims[1], line)
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        if meta.layout == "cf" and (meta.rank or 0) > 2:
            x, meta = convert(self.refs, x, meta, "same", self.notes, line)
        nodes = []
        for (_, n, m), d in zip(items, dims):
            if m.kind == "size" and m.info[0] == "batch" and -1 not in dims:
                nodes.append(node_of(-1))
            elif m.kind in ("size", "const", "other") or d is not UNKNOWN:
                nodes.append(n)
            else:
                raise TranslationError("FWT103", f"view/reshape size not translated: {code(n)}", line)
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in dims)
        return call(self.refs.ops("reshape"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
            tensor(shape=shape, integer=meta.integer, info=meta.info)

    def flat_view(self, x, meta: Meta, size_node, size: int, line):
        """x.view(-1, N) of an image: Keras flattens (H, W, C); the next Linear's rows are permuted."""
        channels = meta.channels
        if meta.shape is not None and all(isinstance(d, int) for d in meta.shape[1:]):
            total = dim_prod(meta.shape[1:])
            if total != size:
                raise TranslationError("FWT202", f"view(-1, {size}) of a tensor of {total} values per sample: "
                                                 "not a per-sample flatten", line)
        elif isinstance(channels, int) and size % channels:
            raise TranslationError("FWT202", f"view(-1, {size}) of an image with {channels} channels: not a "
                                             "per-sample flatten", line)
        spatial = size // channels if isinstance(channels, int) else None
        flat = None if spatial == 1 else (channels, spatial)
        out = tensor(shape=(None, size), flat=flat, nonneg=meta.nonneg)
        return call(self.refs.ops("reshape"), [x, cst.Tuple([cst.Element(node_of(-1)), cst.Element(size_node)])]), out

    def concat(self, node: cst.Call):
        line = line_of(node)
        args = list(node.args)
        seq = args[0].value if args else None
        if not isinstance(seq, (cst.List, cst.Tuple)) and seq is not None:
            done = _ops().concat_tuple(self, node, seq)      # torch.cat(parts, dim) of a tuple value
            if done is not None:
                return done
        if not isinstance(seq, (cst.List, cst.Tuple)):
            raise TranslationError("FWT103", "torch.cat of something other than a literal list/tuple", line)
        dim_node = None
        for a in args[1:]:
            if a.keyword is None or a.keyword.value == "dim":
                dim_node = a.value
            else:
                raise TranslationError("FWT201", f"torch.cat: argument '{a.keyword.value}'", line)
        dim = _const(dim_node) if dim_node is not None else 0
        if not isinstance(dim, int):
            raise TranslationError("FWT202", "torch.cat: dim must be a constant", line)
        pairs = [self.expr(el.value) for el in seq.elements]
        if not all(m.is_tensor for _, m in pairs):
            raise TranslationError("FWT103", "torch.cat of non-tensors", line)
        pairs = [materialize(self.refs, n, m, self.notes, line) if m.flat is not None else (n, m) for n, m in pairs]
        nodes, meta = self.unify(pairs, line)
        metas = [m for _, m in pairs]
        try:
            axis = keras_axis(dim, meta)
        except ValueError:
            raise TranslationError("FWT302", "torch.cat: the rank of the tensors is not known", line)
        shape = meta.shape
        if shape is not None:
            d = dim % len(shape)
            sizes = [m.shape[d] if m.shape is not None and len(m.shape) == len(shape) else None for m in metas]
            total = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
            shape = shape[:d] + (total,) + shape[d + 1:]
        kwargs = [("axis", node_of(axis))]
        out = meta.with_(shape=shape, origin=None, nonneg=all(m.nonneg for m in metas))
        return call(self.refs.ops("concatenate"), [cst.List([cst.Element(n) for n in nodes])], kwargs), out

    def permute(self, name, x, meta: Meta, rest, line):
        rank = meta.rank
        consts = [_const(n) for _, n, _ in rest]
        if rank is None and name == "transpose" and meta.layout == "same" and meta.flat is None and \
                len(consts) == 2 and all(isinstance(c, int) for c in consts) and (consts[0] < 0) == (consts[1] < 0):
            return _ops().swapaxes_unknown_rank(self, x, meta, consts[0], consts[1])
        if rank is None and name == "permute" and meta.layout == "same" and meta.flat is None:
            given = consts[0] if len(consts) == 1 and isinstance(consts[0], (tuple, list)) else consts
            rank = len(given)          # torch requires one axis per dimension: the rank is the number of axes
            meta = meta.with_(rank=rank, shape=(None,) * rank)
        if rank is None:
            raise TranslationError("FWT302", f"{name}: the rank of the tensor is not known", line)
        if len(consts) == 1 and isinstance(consts[0], (tuple, list)):
            consts = list(consts[0])
        if not all(isinstance(c, int) for c in consts):
            raise TranslationError("FWT202", f"{name}: constant axes expected", line)
        if name == "transpose":
            if len(consts) != 2:
                raise TranslationError("FWT103", "transpose takes two axes", line)
            perm = list(range(rank))
            a, b = consts[0] % rank, consts[1] % rank
            perm[a], perm[b] = perm[b], perm[a]
        else:
            perm = [c % rank for c in consts]
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        # Keras tensor axis of each torch axis:
        where = list(range(rank)) if meta.layout == "same" else [keras_axis(i, meta) % rank for i in range(rank)]
        keras_perm = tuple(where[p] for p in perm)
        shape = tuple(meta.shape[p] for p in perm) if meta.shape else None
        out = (tensor(shape=shape) if shape else tensor(rank)).with_(integer=meta.integer, info=meta.info)
        if keras_perm == tuple(range(rank)):
            return x, out
        return transpose(self.refs, x, keras_perm), out

    def reduce(self, name, x, meta: Meta, rest, line):
        dim_node = keep_node = None
        for i, (k, n, _) in enumerate(rest):
            if k in (None, "dim") and (k == "dim" or i == 0):
                dim_node = n
            elif k == "keepdim" or (k is None and i == 1):
                keep_node = n
            else:
                raise TranslationError("FWT201", f".{name}(): argument '{k}' not translated", line)
        dims = _const(dim_node) if dim_node is not None else None
        keep = _const(keep_node) if keep_node is not None else False
        if dims is UNKNOWN or keep is UNKNOWN:
            raise TranslationError("FWT202", f".{name}(): constant dim/keepdim expected", line)
        if meta.flat is not None:
            x, meta = materialize(self.refs, x, meta, self.notes, line)
        kwargs = []
        rank = meta.rank
        if dims is not None:
            dl = list(dims) if isinstance(dims, (tuple, list)) else [dims]
            try:
                axes = [keras_axis(d, meta) for d in dl]
            except ValueError:
                raise TranslationError("FWT302", f".{name}(): the rank of the tensor is not known", line)
            kwargs.append(("axis", node_of(tuple(axes) if len(axes) > 1 else axes[0])))
            if rank is not None:
                removed = {d % rank for d in dl}
                if keep:
                    shape = tuple(1 if i in removed else d for i, d in enumerate(meta.shape))
                    out = meta.with_(shape=shape, origin=None)
                else:
                    shape = tuple(d for i, d in enumerate(meta.shape) if i not in removed)
                    layout = meta.layout if 1 not in removed and len(shape) > 2 else "same"
                    out = tensor(shape=shape, layout=layout)
            else:
                out = tensor(None)
        else:
            out = tensor(shape=()) if not keep else meta
        if keep:
            kwargs.append(("keepdims", node_of(True)))
        op = {"mean": "mean", "sum": "sum", "amax": "max", "amin": "min"}[name]
        return call(self.refs.ops(op), [x], kwargs), out

    def functional_pool(self, short, node: cst.Call):
        """F.max_pool2d(x, k, stride=None) (no padding) -> keras.ops.max_pool / average_pool."""
        line = line_of(node)
        args = self.tensors_of(node)
        (_, x, meta), rest = args[0], args[1:]
        n = 2 if short.endswith("2d") else 1
        names = ["kernel_size", "stride", "padding"] + (["dilation", "ceil_mode", "return_indices"]
                                                         if short.startswith("max") else ["ceil_mode", "count_include_pad"])
        bound = {}
        for i, (k, node_, m) in enumerate(rest):
            key = k or names[i]
            bound[key] = _const(node_)
        k = bound.get("kernel_size")
        s = bound.get("stride") or k
        if any(v is UNKNOWN for v in (k, s)) or bound.get("padding", 0) not in (0, (0, 0), [0, 0]) \
                or bound.get("ceil_mode", False) or bound.get("dilation", 1) not in (1, (1, 1)) \
                or bound.get("return_indices", False):
            raise TranslationError("FWT202", f"F.{short}: only constant kernel/stride without padding, "
                                             "dilation or ceil_mode translate", line)
        x, meta = self.conform(x, meta, _PoolSpec(n), line)
        keras_op = "max_pool" if short.startswith("max") else "average_pool"
        kwargs = [("strides", node_of(_pretty(s)))] if _pretty(s) != _pretty(k) else []
        sizes = meta.spatial or (None,) * n
        kk = k if isinstance(k, (tuple, list)) else (k,) * n
        ss = s if isinstance(s, (tuple, list)) else (s,) * n
        spatial = tuple(None if v is None else (v - a) // b + 1 for v, a, b in zip(sizes, kk, ss))
        out = tensor(shape=(None, meta.channels) + spatial, layout="cf", nonneg=meta.nonneg)
        return call(self.refs.ops(keras_op), [x, node_of(_pretty(k))], kwargs), out

    def functional_global_pool(self, short, node: cst.Call):
        line = line_of(node)
        args = self.tensors_of(node)
        (_, x, meta), rest = args[0], args[1:]
        n = 2 if short.endswith("2d") else 1
        size = _const(rest[0][1]) if rest else UNKNOWN
        if size is UNKNOWN or any(v != 1 for v in (size if isinstance(size, (tuple, list)) else (size,))):
            raise TranslationError("FWT202", f"F.{short}: only output size 1 translates", line)
        x, meta = self.conform(x, meta, _PoolSpec(n), line)
        op = "mean" if "avg" in short else "max"
        axes = tuple(range(1, n + 1))
        out = tensor(shape=(None, meta.channels) + (1,) * n, layout="cf", nonneg=meta.nonneg)
        return call(self.refs.ops(op), [x], [("axis", node_of(axes if n > 1 else 1)), ("keepdims", node_of(True))]), out
