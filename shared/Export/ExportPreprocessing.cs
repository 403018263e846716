using System.Globalization;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Export;

/// <summary>
/// What the exported model does to raw pixels before the backbone. The exported input is float32
/// RGB in [0, 255], NCHW [N, 3, size, size]; the backbone receives
/// (reorder(pixels) - Mean) * Scale, transposed to NHWC when the backbone wants that.
/// Mean is per channel (length 3) or a whole mean image (3 x size x size, CHW), both in the
/// backbone's channel order and on the 0..255 scale; Scale is per channel.
/// </summary>
public sealed record ExportPreprocessing(int InputSize, TensorLayout BackboneLayout, bool RgbToBgr, float[] Mean, float[] Scale, string Description)
{
    public const int Channels = 3;

    public static ExportPreprocessing Imagenet(int size, TensorLayout layout = TensorLayout.Nchw) =>
        Custom([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], size, layout, "imagenet: (x/255 - mean) / std, mean 0.485,0.456,0.406, std 0.229,0.224,0.225");

    public static ExportPreprocessing Inception(int size, TensorLayout layout = TensorLayout.Nchw) =>
        new(size, layout, false, [127.5f, 127.5f, 127.5f], [1 / 127.5f, 1 / 127.5f, 1 / 127.5f], "inception: x / 127.5 - 1, to [-1, 1]");

    /// <summary>Mean and std on the 0..1 scale, as in pipeline.yaml's backbone.mean/std.</summary>
    public static ExportPreprocessing Custom(IReadOnlyList<double> mean01, IReadOnlyList<double> std01, int size, TensorLayout layout = TensorLayout.Nchw, string? description = null)
    {
        if (mean01.Count != Channels || std01.Count != Channels) throw new ConfigException("backbone.mean and backbone.std need 3 values each (R, G, B).");
        return new(size, layout, false,
            mean01.Select(m => (float)(255 * m)).ToArray(),
            std01.Select(s => (float)(1 / (255 * s))).ToArray(),
            description ?? "custom: (x/255 - mean) / std, mean " + Join(mean01) + ", std " + Join(std01));
    }

    /// <summary>caffe-style: RGB to BGR, then minus a BGR mean image (ResNetPreprocess.onnx's MeanImage).</summary>
    public static ExportPreprocessing CaffeBgr(float[] bgrMeanImage, int size, TensorLayout layout = TensorLayout.Nchw) =>
        new(size, layout, true, bgrMeanImage, [1f, 1f, 1f], "caffe-bgr: RGB to BGR, minus the ImageNet mean image (0..255 scale)");

    /// <summary>
    /// The export form of Extract's own preprocessing, so the exported model sees exactly the values
    /// the cached vectors were made from: value = rgb[src] * scale + offset - meanImage
    /// = (rgb[src] - (meanImage - offset) / scale) * scale.
    /// </summary>
    public static ExportPreprocessing From(Backbones.Preprocessing p, int size, TensorLayout layout)
    {
        var bgr = p.SourceChannel.SequenceEqual([2, 1, 0]);
        if (!bgr && !p.SourceChannel.SequenceEqual([0, 1, 2]))
            throw new ArgumentException($"channel order {string.Join(",", p.SourceChannel)} is neither RGB nor BGR");
        var plane = size * size;
        float[] mean;
        if (p.MeanImage is { } image)
        {
            mean = new float[Channels * plane];
            for (var c = 0; c < Channels; c++)
                for (var k = 0; k < plane; k++)
                    mean[c * plane + k] = (image[c * plane + k] - p.Offset[c]) / p.Scale[c];
        }
        else mean = [.. Enumerable.Range(0, Channels).Select(c => -p.Offset[c] / p.Scale[c])];
        var description = $"{Config.ConfigLoader.Snake(p.Preset.ToString(), '-')}: " + (bgr ? "RGB to BGR, " : "") +
            (p.MeanImage is null ? "" : "minus the mean image, ") +
            $"times {string.Join(",", p.Scale.Select(f => f.ToString("G6", CultureInfo.InvariantCulture)))} plus {string.Join(",", p.Offset.Select(f => f.ToString("G6", CultureInfo.InvariantCulture)))}";
        return new(size, layout, bgr, mean, [.. p.Scale], description);
    }

    /// <summary>Applies the same arithmetic in C# to one CHW RGB 0..255 image, giving the backbone's NCHW input (for checks).</summary>
    public float[] Apply(ReadOnlySpan<float> chwRgb)
    {
        var plane = InputSize * InputSize;
        var output = new float[Channels * plane];
        for (var c = 0; c < Channels; c++)
        {
            var source = RgbToBgr ? Channels - 1 - c : c;
            for (var k = 0; k < plane; k++)
            {
                var mean = Mean.Length == Channels ? Mean[c] : Mean[c * plane + k];
                output[c * plane + k] = (chwRgb[source * plane + k] - mean) * Scale[c];
            }
        }
        return output;
    }

    private static string Join(IEnumerable<double> xs) => string.Join(",", xs.Select(x => x.ToString(CultureInfo.InvariantCulture)));
}
