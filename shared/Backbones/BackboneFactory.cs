using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Config;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using Onnx;

namespace BottleneckPipeline.Backbones;

/// <summary>
/// Turns the backbone and extract sections of a config into a <see cref="BackboneSpec"/>: reads the
/// model once to hash it and inspect its graph, but creates no inference session, so TrainHead and
/// Evaluate can learn the fingerprint and dimension cheaply.
/// </summary>
public static class BackboneFactory
{
    public static string EmbeddedResNet18Path => Path.Combine(AppContext.BaseDirectory, "models", "resnet18", "ResNet18.onnx");
    public static string EmbeddedResNetPreprocessPath => Path.Combine(AppContext.BaseDirectory, "models", "resnet18", "ResNetPreprocess.onnx");

    public static BackboneSpec Resolve(PipelineConfig config) => Explain(config).Spec;

    /// <summary>The backbone as the config's backbone and extract sections set it up, decode policy included.</summary>
    public static BackboneResolution Explain(PipelineConfig config) =>
        Explain(config.Backbone, config.Extract.Resize, new DecodePolicy(config.Extract.LibvipsMinPixels));

    public static BackboneSpec Resolve(BackboneConfig b, ResizeMode resize, DecodePolicy? decode = null) => Explain(b, resize, decode).Spec;

    /// <summary>Resolves the backbone and keeps what Extract inspect shows beside the spec: the parsed
    /// model and where each input setting came from.</summary>
    public static BackboneResolution Explain(BackboneConfig b, ResizeMode resize, DecodePolicy? decode = null)
    {
        decode ??= DecodePolicy.ImageSharpOnly;
        var modelPath = b.Name == BackboneName.Resnet18 && b.Onnx is null ? EmbeddedResNet18Path : b.Onnx!;
        if (!File.Exists(modelPath))
            throw b.Name == BackboneName.Resnet18 && b.Onnx is null
                ? new InputException($"the embedded ResNet-18 model is missing at {modelPath}. " +
                                     "Rebuild the project (make build) so it is copied beside the executable.")
                : new InputException($"'backbone.onnx': model file not found: {modelPath}. Point 'backbone.onnx' at your ONNX file.");

        // Streamed, not read into one array: the hash and the parse need no extra copy of the weights.
        using var stream = File.OpenRead(modelPath);
        var sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        stream.Position = 0;
        ModelProto model;
        try { model = ModelProto.Parser.ParseFrom(stream); }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InputException($"'backbone.onnx': {modelPath} is not an ONNX model ({e.Message}).", e);
        }
        var graph = new OnnxGraphInfo(model.Graph);
        if (graph.Inputs.Count != 1)
            throw new InputException($"backbone model {modelPath} must take exactly one image input; it has {graph.Describe()}");
        var input = graph.Inputs[0];
        var inputShape = graph.Shape(input.Name);
        var shown = OnnxGraphInfo.ShowShape(inputShape);

        var layout = b.Layout ?? GuessLayout(inputShape);
        var layoutFrom = b.Layout is not null ? "set by 'backbone.layout'"
            : inputShape is not { Length: 4 } ? $"the default: the input shape {shown} does not say"
            : layout == TensorLayout.Nhwc ? $"guessed from the input shape {shown}: channels last"
            : inputShape[1] == 3 ? $"guessed from the input shape {shown}: channels first"
            : $"the default: the input shape {shown} has no dimension of 3 channels";
        if (inputShape is { Length: 4 } && (layout == TensorLayout.Nchw ? inputShape[1] : inputShape[3]) is > 0 and not 3 and var channels)
            throw new InputException($"backbone model {modelPath}: input {input.Name}{shown} read as {Display(layout)} has {channels} channels; " +
                                     "the pipeline feeds 3 (RGB). " +
                                     (b.Layout is null
                                         ? "Set 'backbone.layout' to the model's layout."
                                         : $"Check 'backbone.layout' ({Display(layout)}): " +
                                           $"the model may be {Display(layout == TensorLayout.Nchw ? TensorLayout.Nhwc : TensorLayout.Nchw)}."));
        var size = b.InputSize ?? DefaultSize(b.Name, inputShape, layout)
            ?? throw new InputException($"backbone model {modelPath} does not state its image size (input {input.Name}{shown}). Set 'backbone.input_size'.");
        var sizeFrom = b.InputSize is not null ? "set by 'backbone.input_size'"
            : b.Name is BackboneName.Resnet18 or BackboneName.InceptionV3 ? $"the size {Display(b.Name)} takes"
            : $"from the input shape {shown}";
        var preprocessing = MakePreprocessing(b, size);
        var normalizationFrom = b.Normalization is not null ? "set by 'backbone.normalization'" : $"the default for backbone.name {Display(b.Name)}";
        var bottleneck = BottleneckLocator.Locate(graph, b.Bottleneck, modelPath);
        var fixedBatch = inputShape is { Length: > 0 } && inputShape[0] == 1;

        var fingerprintText = $"model={sha};input={size};layout={layout};pre={preprocessing.Describe()};resize={resize};bottleneck={bottleneck.Tensor}";
        // ImageSharp alone adds nothing, so the fingerprints from before libvips stay valid.
        var decodedText = decode.Describe() is { } d ? fingerprintText + ";" + d : fingerprintText;
        var spec = new BackboneSpec
        {
            Name = b.Name,
            ModelPath = modelPath,
            ModelSha256 = sha,
            InputName = input.Name,
            InputSize = size,
            Layout = layout,
            Preprocessing = preprocessing,
            Resize = resize,
            BottleneckTensor = bottleneck.Tensor,
            BottleneckIsGraphOutput = bottleneck.IsGraphOutput,
            BottleneckReason = bottleneck.Reason,
            Dimension = bottleneck.Dimension,
            FixedBatch = fixedBatch,
            Fingerprint = Hash(decodedText),
            Decode = decode,
            ImageSharpFingerprint = Hash(fingerprintText),
        };
        return new BackboneResolution(spec, model, sizeFrom, layoutFrom, normalizationFrom);
    }

    private static string Hash(string fingerprintText) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(fingerprintText)))[..20];

    private static string Display<T>(T value) where T : Enum => ConfigLoader.Snake(value.ToString(), '-');

    private static TensorLayout GuessLayout(long[]? shape) =>
        shape is { Length: 4 } && shape[3] == 3 && shape[1] != 3 ? TensorLayout.Nhwc : TensorLayout.Nchw;

    private static int? DefaultSize(BackboneName name, long[]? shape, TensorLayout layout)
    {
        if (name == BackboneName.Resnet18) return 224;
        if (name == BackboneName.InceptionV3) return 299;
        if (shape is not { Length: 4 }) return null;
        var h = layout == TensorLayout.Nchw ? shape[2] : shape[1];
        return h > 0 ? (int)h : null;
    }

    private static Preprocessing MakePreprocessing(BackboneConfig b, int size)
    {
        var preset = b.Normalization ?? b.Name switch
        {
            BackboneName.Resnet18 => NormalizationPreset.CaffeBgr,
            BackboneName.InceptionV3 => NormalizationPreset.Inception,
            _ => NormalizationPreset.Imagenet,
        };
        return preset switch
        {
            NormalizationPreset.Imagenet => Preprocessing.MeanStd(preset, Preprocessing.ImagenetMean, Preprocessing.ImagenetStd),
            NormalizationPreset.Inception => Preprocessing.Inception(),
            NormalizationPreset.CaffeBgr => Preprocessing.CaffeBgr(size == 224 ? LoadResNetMeanImage() : null),
            _ => Preprocessing.MeanStd(preset, b.Mean!, b.Std!),
        };
    }

    /// <summary>The ResNet-18 package's MeanImage initializer: planar [3, 224, 224], BGR, 0..255 scale.</summary>
    public static float[] LoadResNetMeanImage()
    {
        var path = EmbeddedResNetPreprocessPath;
        if (!File.Exists(path))
            throw new InputException($"the embedded ResNet preprocessing model is missing at {path}. Rebuild the project (make build).");
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var mean = model.Graph.Initializer.FirstOrDefault(t => t.Name == "MeanImage")
            ?? throw new InputException($"{path} has no MeanImage initializer; it is not the ResNet-18 package's preprocessing model.");
        var values = mean.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(mean.RawData.Span).ToArray() : [.. mean.FloatData];
        if (values.Length != 3 * 224 * 224)
            throw new InputException($"{path}: MeanImage has {values.Length} values, expected 3x224x224.");
        return values;
    }
}
