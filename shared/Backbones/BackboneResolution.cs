using Onnx;

namespace BottleneckPipeline.Backbones;

/// <summary>
/// A resolved backbone with what `Extract inspect` shows beside its spec: the parsed model (graph,
/// producer, opsets) and, for a person, where the input size, layout and normalization came from.
/// </summary>
public sealed record BackboneResolution(BackboneSpec Spec, ModelProto Model, string InputSizeFrom, string LayoutFrom, string NormalizationFrom);
