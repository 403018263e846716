using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Imaging;

/// <summary>
/// How an RGB pixel (0..255) becomes a model input value. For output channel c at (y, x):
/// value = rgb[SourceChannel[c]] * Scale[c] + Offset[c] - MeanImage[c, y, x].
/// One affine form covers every preset: ImageNet mean/std, Inception's [-1, 1], and the ResNet-18
/// package's Caffe style (BGR order, per-pixel mean image subtracted on the 0..255 scale).
/// </summary>
public sealed class Preprocessing
{
    public required NormalizationPreset Preset { get; init; }
    /// <summary>Which RGB channel feeds each output channel: [0,1,2] for RGB, [2,1,0] for BGR.</summary>
    public required int[] SourceChannel { get; init; }
    public required float[] Scale { get; init; }
    public required float[] Offset { get; init; }
    /// <summary>Optional planar [3, size, size] image subtracted after scaling, in output channel order.</summary>
    public float[]? MeanImage { get; init; }

    public static readonly double[] ImagenetMean = [0.485, 0.456, 0.406];
    public static readonly double[] ImagenetStd = [0.229, 0.224, 0.225];

    /// <summary>Per-channel averages of the ResNet-18 package's MeanImage (B, G, R), used when the
    /// input size differs from the 224x224 the mean image was made for.</summary>
    public static readonly float[] CaffeBgrChannelMeans = [103.0626f, 115.9029f, 123.1516f];

    /// <summary>(p / 255 - mean) / std, in RGB order.</summary>
    public static Preprocessing MeanStd(NormalizationPreset preset, IReadOnlyList<double> mean, IReadOnlyList<double> std) => new()
    {
        Preset = preset,
        SourceChannel = [0, 1, 2],
        Scale = [.. Enumerable.Range(0, 3).Select(c => (float)(1.0 / (255.0 * std[c])))],
        Offset = [.. Enumerable.Range(0, 3).Select(c => (float)(-mean[c] / std[c]))],
    };

    /// <summary>Inception's p / 127.5 - 1, mapping 0..255 to [-1, 1].</summary>
    public static Preprocessing Inception() => new()
    {
        Preset = NormalizationPreset.Inception,
        SourceChannel = [0, 1, 2],
        Scale = [1f / 127.5f, 1f / 127.5f, 1f / 127.5f],
        Offset = [-1f, -1f, -1f],
    };

    /// <summary>BGR order, 0..255 scale, minus the package's mean image (or its channel means when
    /// the mean image does not fit the input size).</summary>
    public static Preprocessing CaffeBgr(float[]? meanImage) => new()
    {
        Preset = NormalizationPreset.CaffeBgr,
        SourceChannel = [2, 1, 0],
        Scale = [1f, 1f, 1f],
        Offset = meanImage is null ? [.. CaffeBgrChannelMeans.Select(m => -m)] : [0f, 0f, 0f],
        MeanImage = meanImage,
    };

    /// <summary>What happens to a pixel value p (0..255), for a person (Extract inspect).</summary>
    public string Explain()
    {
        static string List(IEnumerable<double> xs) => "[" + string.Join(", ", xs.Select(x => x.ToString("0.###", CultureInfo.InvariantCulture))) + "]";
        var name = Config.ConfigLoader.Snake(Preset.ToString(), '-');
        return Preset switch
        {
            NormalizationPreset.Inception => $"{name}: RGB, p / 127.5 - 1, so values lie in [-1, 1]",
            NormalizationPreset.CaffeBgr when MeanImage is not null => $"{name}: BGR, p on the 0..255 scale minus the ResNet-18 package's mean image",
            NormalizationPreset.CaffeBgr => $"{name}: BGR, p on the 0..255 scale minus the channel means {List(Offset.Select(o => -(double)o))}",
            // Scale = 1 / (255 std) and Offset = -mean / std, so std and mean come back exactly enough to show.
            _ => $"{name}: RGB, (p / 255 - mean) / std with mean {List(Scale.Zip(Offset, (a, b) => -b / (255.0 * a)))} " +
                 $"and std {List(Scale.Select(a => 1 / (255.0 * a)))}",
        };
    }

    /// <summary>A canonical description, part of the backbone fingerprint.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{Preset};src={string.Join(',', SourceChannel)};");
        sb.Append("scale=").AppendJoin(',', Scale.Select(f => f.ToString("R", CultureInfo.InvariantCulture))).Append(';');
        sb.Append("offset=").AppendJoin(',', Offset.Select(f => f.ToString("R", CultureInfo.InvariantCulture))).Append(';');
        if (MeanImage is { } m)
            sb.Append("mean_image=").Append(Convert.ToHexStringLower(SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(m.AsSpan())))[..16]);
        return sb.ToString();
    }
}
