using System.Globalization;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate.Export;

/// <summary>
/// What the exported model does to raw pixels before the backbone. The exported input is float32
/// RGB in [0, 255], NCHW [N, 3, size, size]; the backbone receives
/// (reorder(pixels) - Mean) * Scale, transposed to NHWC when the backbone wants that.
/// Mean is per channel (length 3) or a whole mean image (3 x size x size, CHW), both in the
/// backbone's channel order and on the 0..255 scale; Scale is per channel.
/// </summary>
internal sealed record ExportPreprocessing(int InputSize, TensorLayout BackboneLayout, bool RgbToBgr, float[] Mean, float[] Scale, string Description)
{
    public const int Channels = 3;

    /// <summary>How an image became size x size before these steps: stretched or centre-cropped.</summary>
    public ResizeMode Resize { get; init; } = ResizeMode.Stretch;

    /// <summary>JPEGs of at least this many pixels were decoded by libvips (0: never); see <see cref="Decoding.DecodePolicy"/>.</summary>
    public long LibvipsMinPixels { get; init; }

    /// <summary>
    /// The export form of Extract's own preprocessing, so the exported model sees exactly the values
    /// the cached vectors were made from: value = rgb[src] * scale + offset - meanImage
    /// = (rgb[src] - (meanImage - offset) / scale) * scale.
    /// </summary>
    public static ExportPreprocessing From(Imaging.Preprocessing p, int size, TensorLayout layout)
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
            $"times {string.Join(",", p.Scale.Select(f => f.ToString("G6", CultureInfo.InvariantCulture)))} " +
            $"plus {string.Join(",", p.Offset.Select(f => f.ToString("G6", CultureInfo.InvariantCulture)))}";
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
}
