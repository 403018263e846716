using System.Globalization;
using System.Text.Json;
using BottleneckPipeline.Config;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>
/// What model.onnx says about itself in its metadata, so that the file alone classifies an image the
/// way the pipeline did: the labels, the input contract, how an image becomes the input (decoder,
/// resize rule, interpolation; the normalization is inside the graph) and where it came from.
/// Written by <see cref="HeadExporter"/>; read by predict, Evaluate --data and any other runtime.
/// </summary>
internal sealed record ModelMetadata
{
    public required string[] Labels { get; init; }
    public required int InputSize { get; init; }
    public required ResizeMode Resize { get; init; }
    /// <summary>JPEGs of at least this many pixels were decoded by libvips' shrink-on-load; 0: never.</summary>
    public required long LibvipsMinPixels { get; init; }
    public required string Preprocessing { get; init; }
    public required string Backbone { get; init; }
    public required string BackboneFingerprint { get; init; }
    public required string HeadInputsHash { get; init; }
    /// <summary>The temperature the head's logits were divided by before the softmax (fitted on the validation split); 1: none.</summary>
    public double Temperature { get; init; } = 1;

    public DecodePolicy Decode => new(LibvipsMinPixels);

    /// <summary>The resize filter of the ImageSharp path, as a person or another library would name it.</summary>
    public const string Interpolation = "triangle (bilinear), widened when shrinking so it antialiases as PIL's does";

    public const string LibvipsInterpolation = "libvips thumbnail: shrink-on-load, then Lanczos3";

    public IReadOnlyDictionary<string, string> Entries() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["labels"] = JsonSerializer.Serialize(Labels),
        ["input_name"] = HeadExporter.InputName,
        ["input_layout"] = "NCHW",
        ["input_size"] = InputSize.ToString(CultureInfo.InvariantCulture),
        ["input_format"] = "float32 RGB pixels in [0, 255], shape [N, 3, size, size]",
        ["resize"] = ConfigLoader.Snake(Resize.ToString(), '-'),
        ["resize_rule"] = Resize == ResizeMode.Stretch
            ? "stretch the whole image to size x size, ignoring its aspect ratio"
            : "scale the shorter side to size, then crop the centre size x size",
        ["interpolation"] = Interpolation,
        ["libvips_min_pixels"] = LibvipsMinPixels.ToString(CultureInfo.InvariantCulture),
        ["large_jpeg_decoder"] = LibvipsMinPixels > 0
            ? $"JPEGs of at least {LibvipsMinPixels} pixels: {LibvipsInterpolation}"
            : "none: every image through the ImageSharp path",
        ["preprocessing"] = Preprocessing + " (done inside the model)",
        ["output_name"] = HeadExporter.OutputName,
        ["backbone"] = Backbone,
        ["backbone_fingerprint"] = BackboneFingerprint,
        ["head_inputs_hash"] = HeadInputsHash,
        ["temperature"] = Temperature.ToString("R", CultureInfo.InvariantCulture),
        ["probabilities"] = Temperature == 1
            ? "softmax of the head's logits"
            : $"calibrated: softmax of the head's logits divided by the temperature {Temperature.ToString("0.####", CultureInfo.InvariantCulture)}, " +
              "fitted on the validation split",
    };

    /// <summary>Reads the metadata of a model file; an ONNX file that BottleneckPipeline did not export is refused naming the key it lacks.</summary>
    public static ModelMetadata Read(string modelPath, IReadOnlyDictionary<string, string> map)
    {
        string Get(string key) => map.TryGetValue(key, out var v) && v.Length > 0
            ? v
            : throw new InputException($"{modelPath} has no '{key}' in its metadata: it is not a model Evaluate exported (or one of an older version). " +
                                       "Export it again with make evaluate.");
        string[] labels;
        try { labels = JsonSerializer.Deserialize<string[]>(Get("labels")) ?? []; }
        catch (JsonException e) { throw new InputException($"{modelPath}: its metadata 'labels' is not a JSON array of names ({e.Message}).", e); }
        if (labels.Length < 2) throw new InputException($"{modelPath}: its metadata names {labels.Length} label(s); a classifier has at least two.");
        var resize = Get("resize") switch
        {
            "stretch" => ResizeMode.Stretch,
            "center-crop" => ResizeMode.CenterCrop,
            var other => throw new InputException($"{modelPath}: its metadata 'resize' is '{other}', not stretch or center-crop."),
        };
        return new ModelMetadata
        {
            Labels = labels,
            InputSize = int.TryParse(Get("input_size"), NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size > 0
                ? size
                : throw new InputException($"{modelPath}: its metadata 'input_size' is not a positive whole number."),
            Resize = resize,
            LibvipsMinPixels = long.TryParse(Get("libvips_min_pixels"), NumberStyles.None, CultureInfo.InvariantCulture, out var min)
                ? min
                : throw new InputException($"{modelPath}: its metadata 'libvips_min_pixels' is not a whole number."),
            Preprocessing = Get("preprocessing"),
            Backbone = Get("backbone"),
            BackboneFingerprint = Get("backbone_fingerprint"),
            HeadInputsHash = map.GetValueOrDefault("head_inputs_hash", ""),
            Temperature = double.TryParse(map.GetValueOrDefault("temperature", "1"), NumberStyles.Float, CultureInfo.InvariantCulture, out var t) ? t : 1,
        };
    }
}
