using BottleneckPipeline.Config;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;

namespace BottleneckPipeline.Backbones;

/// <summary>
/// Everything that decides which vector an image gets: the model bytes, how pixels are prepared and
/// which tensor is read. Its <see cref="Fingerprint"/> names the cache folder, so any change here
/// misses the cache instead of mixing vectors from different backbones.
/// </summary>
public sealed record BackboneSpec
{
    public required BackboneName Name { get; init; }
    public required string ModelPath { get; init; }
    /// <summary>Hex SHA-256 of the model file: shown by Extract inspect.</summary>
    public required string ModelSha256 { get; init; }
    public required string InputName { get; init; }
    public required int InputSize { get; init; }
    public required TensorLayout Layout { get; init; }
    public required Preprocessing Preprocessing { get; init; }
    public required ResizeMode Resize { get; init; }
    public required string BottleneckTensor { get; init; }
    public required bool BottleneckIsGraphOutput { get; init; }
    /// <summary>Which rule chose the bottleneck tensor, for a person; not part of the fingerprint.</summary>
    public required string BottleneckReason { get; init; }
    /// <summary>Values per image; 0 when the graph does not say (a user-named tensor without a shape).</summary>
    public required int Dimension { get; init; }
    /// <summary>Whether the model's batch dimension was fixed to 1 (so the session makes it dynamic).</summary>
    public required bool FixedBatch { get; init; }
    public required string Fingerprint { get; init; }
    /// <summary>Which decoder makes each image's pixels; part of <see cref="Fingerprint"/> when it can choose libvips.</summary>
    public DecodePolicy Decode { get; init; } = DecodePolicy.ImageSharpOnly;
    /// <summary>The fingerprint of this backbone with every image decoded by ImageSharp: where the
    /// vectors of images the policy leaves to ImageSharp already are (equal to <see cref="Fingerprint"/>
    /// when the policy never chooses libvips).</summary>
    public required string ImageSharpFingerprint { get; init; }
    /// <summary>Int8 when <see cref="ModelPath"/> is the cached quantized copy of the configured model.</summary>
    public BackbonePrecision Precision { get; init; } = BackbonePrecision.Float32;

    public int ValuesPerImage => 3 * InputSize * InputSize;

    public string DisplayName => Config.ConfigLoader.Snake(Name.ToString(), '-') + (Precision == BackbonePrecision.Int8 ? " int8" : "");
}
