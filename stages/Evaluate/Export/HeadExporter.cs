using System.Globalization;
using System.Text.Json;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using Onnx;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>Provenance written into the exported model's metadata.</summary>
internal sealed record ExportProvenance(string BackboneName, string BackboneFingerprint, string HeadInputsHash);

/// <summary>What makes the exported model's confidence mean something: the temperature already folded into the head it is
/// given (recorded in the metadata), and the unknown rule, written into the graph as two more outputs.</summary>
internal sealed record ExportConfidence(double Temperature, RelativeMahalanobis? Unknown);

/// <summary>
/// Builds one ONNX file from the backbone's graph: raw RGB pixels -> normalization nodes -> the
/// backbone up to its bottleneck -> Flatten -> Gemm(head) -> Softmax -> "probabilities".
/// Nodes the new output does not need (the backbone's own classifier) are pruned. A batch fixed at
/// 1 is made dynamic, as Extract's own copy is, and "pixels" is the only graph input (the weights
/// are initializers only). Label names and the input contract go into metadata_props so the file
/// is usable on its own.
/// </summary>
internal static class HeadExporter
{
    public const string InputName = "pixels";
    public const string OutputName = "probabilities";
    private const string Prefix = "bp_export_";

    /// <param name="head">the head as it ships: with a temperature, already divided by it (<see cref="TemperatureScaling.Apply"/>).</param>
    public static byte[] Export(byte[] backboneModel, string bottleneckTensor, ExportPreprocessing preprocessing, SoftmaxHead head, ExportProvenance provenance,
        ExportConfidence? confidence = null)
    {
        var model = ModelProto.Parser.ParseFrom(backboneModel);
        var graph = model.Graph;
        var opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();
        if (opset < 7)
            throw new InputException($"the backbone uses ONNX opset {opset}; export needs opset 7 or later (broadcasting Sub/Mul). " +
                                     "Re-export the backbone with a newer opset.");

        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var dataInputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).ToList();
        if (dataInputs.Count != 1)
            throw new InputException($"the backbone has {dataInputs.Count} data inputs ({string.Join(", ", dataInputs.Select(i => i.Name))}); " +
                                     "export needs exactly one image input.");
        var backboneInput = dataInputs[0];
        if (!graph.Node.Any(n => n.Output.Contains(bottleneckTensor)))
            throw new InputException($"the backbone has no tensor named {bottleneckTensor}: check backbone.bottleneck.");
        var allNames = graph.Node.SelectMany(n => n.Input.Concat(n.Output)).Concat(initializerNames).Append(backboneInput.Name)
            .ToHashSet(StringComparer.Ordinal);
        foreach (var name in new[] { InputName, OutputName })
            if (allNames.Contains(name)) throw new InputException($"the backbone already has a tensor named {name}; export cannot add its own.");

        if (backboneInput.Type?.TensorType?.Shape?.Dim is [{ DimValue: 1 }, ..])
        {
            // Like BackboneSession: the batch becomes symbolic in inputs, value infos, outputs and
            // Reshape shapes, so the exported model takes N images in one run.
            graph.SetDim();
            backboneInput = graph.Input.First(i => i.Name == backboneInput.Name);
        }
        var batchDim = BatchDimension(backboneInput);
        var size = preprocessing.InputSize;
        var plane = (long)size * size;
        var newNodes = new List<NodeProto>();
        var newInitializers = new List<TensorProto>();

        // Pixels in, normalised backbone input out.
        var current = InputName;
        if (preprocessing.RgbToBgr)
        {
            newInitializers.Add(OnnxTensors.Int64(Prefix + "bgr_order", [2, 1, 0], 3));
            newNodes.Add(OnnxTensors.Node("Gather", Prefix + "to_bgr", [current, Prefix + "bgr_order"], [Prefix + "bgr"], OnnxTensors.IntAttribute("axis", 1)));
            current = Prefix + "bgr";
        }
        var meanDims = preprocessing.Mean.Length == ExportPreprocessing.Channels ? new long[] { 1, 3, 1, 1 }
            : preprocessing.Mean.Length == 3 * plane ? new long[] { 1, 3, size, size }
            : throw new ArgumentException($"mean has {preprocessing.Mean.Length} values; expected 3 or 3 x {size} x {size}");
        if (preprocessing.Mean.Any(m => m != 0))
        {
            newInitializers.Add(OnnxTensors.Float(Prefix + "mean", preprocessing.Mean, meanDims));
            newNodes.Add(OnnxTensors.Node("Sub", Prefix + "subtract_mean", [current, Prefix + "mean"], [Prefix + "centred"]));
            current = Prefix + "centred";
        }
        if (preprocessing.Scale.Any(s => s != 1))
        {
            newInitializers.Add(OnnxTensors.Float(Prefix + "scale", preprocessing.Scale, 1, 3, 1, 1));
            newNodes.Add(OnnxTensors.Node("Mul", Prefix + "scale", [current, Prefix + "scale"], [Prefix + "scaled"]));
            current = Prefix + "scaled";
        }
        var perm = new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints };
        if (preprocessing.BackboneLayout == TensorLayout.Nhwc)
        {
            perm.Ints.AddRange([0, 2, 3, 1]);
            newNodes.Add(OnnxTensors.Node("Transpose", Prefix + "to_nhwc", [current], [backboneInput.Name], perm));
        }
        else
        {
            newNodes.Add(OnnxTensors.Node("Identity", Prefix + "to_backbone", [current], [backboneInput.Name]));
        }

        // Bottleneck to probabilities.
        newInitializers.Add(OnnxTensors.Float(Prefix + "head_weights", head.Weights, head.ClassCount, head.Dimension));
        newInitializers.Add(OnnxTensors.Float(Prefix + "head_bias", head.Bias, head.ClassCount));
        var tail = new[]
        {
            OnnxTensors.Node("Flatten", Prefix + "flatten", [bottleneckTensor], [Prefix + "bottleneck_flat"], OnnxTensors.IntAttribute("axis", 1)),
            OnnxTensors.Node("Gemm", Prefix + "head", [Prefix + "bottleneck_flat", Prefix + "head_weights", Prefix + "head_bias"], [Prefix + "logits"],
                OnnxTensors.IntAttribute("transB", 1)),
            OnnxTensors.Node("Softmax", Prefix + "softmax", [Prefix + "logits"], [OutputName], OnnxTensors.IntAttribute("axis", 1)),
        };

        var nodes = newNodes.Concat(graph.Node).Concat(tail).ToList();
        var initializers = graph.Initializer.Concat(newInitializers).ToList();
        var needed = Prune(nodes, OutputName);

        CheckBottleneckSize(graph, bottleneckTensor, head.Dimension);

        graph.Node.Clear();
        graph.Node.AddRange(needed);
        var used = needed.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var keptInitializers = initializers.Where(t => used.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(keptInitializers);
        var produced = needed.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        var keptInfo = graph.ValueInfo.Where(v => produced.Contains(v.Name) && v.Name != backboneInput.Name).ToList();
        keptInfo.Add(backboneInput);
        graph.ValueInfo.Clear();
        graph.ValueInfo.AddRange(keptInfo);

        graph.Input.Clear();
        graph.Input.Add(OnnxTensors.FloatValueInfo(InputName, batchDim, 3L, (long)size, (long)size));
        // IR version 3 wants every initializer listed as a graph input as well, so a runtime or a
        // viewer shows 100-odd weights beside pixels; from version 4 they are initializers only.
        // Nothing else in the file depends on the IR version.
        if (model.IrVersion < 4) model.IrVersion = 4;
        graph.Output.Clear();
        graph.Output.Add(OnnxTensors.FloatValueInfo(OutputName, batchDim, (long)head.ClassCount));

        // The unknown rule before the metadata: the checksum's entry must come last.
        if (confidence?.Unknown is { } unknown) UnknownScoreGraph.Append(model, bottleneckTensor, unknown);
        SetMetadata(model, preprocessing, head, provenance, confidence?.Temperature ?? 1);
        return ModelChecksum.Seal(Google.Protobuf.MessageExtensions.ToByteArray(model));
    }

    /// <summary>Exports and writes the model atomically; returns the file's SHA-256, which evaluation.json records.</summary>
    public static string ExportToFile(string path, byte[] backboneModel, string bottleneckTensor, ExportPreprocessing preprocessing, SoftmaxHead head,
        ExportProvenance provenance, ExportConfidence? confidence = null)
    {
        var model = Export(backboneModel, bottleneckTensor, preprocessing, head, provenance, confidence);
        AtomicFile.WriteAllBytes(path, model);
        return Sha256.Of(model);
    }

    /// <summary>Nodes that contribute to the output, in their original (topological) order.</summary>
    private static List<NodeProto> Prune(List<NodeProto> nodes, string output)
    {
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++) foreach (var o in nodes[i].Output) producer[o] = i;
        var keep = new bool[nodes.Count];
        var pending = new Stack<string>([output]);
        while (pending.Count > 0)
        {
            if (!producer.TryGetValue(pending.Pop(), out var i) || keep[i]) continue;
            keep[i] = true;
            foreach (var input in nodes[i].Input) if (input.Length > 0) pending.Push(input);
        }
        return nodes.Where((_, i) => keep[i]).ToList();
    }

    /// <summary>When the backbone declares the bottleneck's shape, its per-image size must be the head's dimension.</summary>
    private static void CheckBottleneckSize(GraphProto graph, string bottleneck, int dimension)
    {
        var info = graph.Output.Concat(graph.ValueInfo).FirstOrDefault(v => v.Name == bottleneck);
        var dims = info?.Type?.TensorType?.Shape?.Dim;
        if (dims is null || dims.Count < 2 || dims.Skip(1).Any(d => d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue)) return;
        var perImage = dims.Skip(1).Aggregate(1L, (p, d) => p * d.DimValue);
        if (perImage != dimension)
            throw new InputException($"the bottleneck {bottleneck} has {perImage} values per image but the head expects {dimension}: " +
                                     "the head was trained on another backbone; re-run TrainHead.");
    }

    private static object BatchDimension(ValueInfoProto input)
    {
        var dims = input.Type?.TensorType?.Shape?.Dim;
        if (dims is null || dims.Count == 0) return "N";
        return dims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue
            ? dims[0].DimValue
            : (dims[0].DimParam is { Length: > 0 } p ? p : "N");
    }

    private static void SetMetadata(ModelProto model, ExportPreprocessing preprocessing, SoftmaxHead head, ExportProvenance provenance, double temperature)
    {
        var entries = new ModelMetadata
        {
            Labels = head.LabelNames,
            InputSize = preprocessing.InputSize,
            Resize = preprocessing.Resize,
            LibvipsMinPixels = preprocessing.LibvipsMinPixels,
            Preprocessing = preprocessing.Description,
            Backbone = provenance.BackboneName,
            BackboneFingerprint = provenance.BackboneFingerprint,
            HeadInputsHash = provenance.HeadInputsHash,
            Temperature = temperature,
        }.Entries();
        foreach (var key in entries.Keys.Append(ModelChecksum.Key))
        {
            var existing = model.MetadataProps.Where(p => p.Key == key).ToList();
            foreach (var e in existing) model.MetadataProps.Remove(e);
        }
        foreach (var (k, v) in entries) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        // Last, so ModelChecksum finds it from the end; sealed once the model is serialized.
        model.MetadataProps.Add(new StringStringEntryProto { Key = ModelChecksum.Key, Value = ModelChecksum.Placeholder });
        model.ProducerName = "BottleneckPipeline";
        model.DocString = $"{provenance.BackboneName} backbone + softmax head over {head.ClassCount} classes. " +
                          $"Input: {entries["input_format"]}. Output: {OutputName} [N, {head.ClassCount}].";
    }
}
