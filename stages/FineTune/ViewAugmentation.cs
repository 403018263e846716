using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// The augmented views of a training image: view 0 is the plain image; view k > 0 is a random
/// resized crop (torchvision's RandomResizedCrop: area share within crop_scale, aspect ratio within
/// [3/4, 4/3]) then, with probability 1/2, a left-right mirror. Each view's draws come from a
/// generator seeded by (seed, content id, view) alone, so a view is the same whatever order, subset
/// or run computes it: that is what lets its prefix activations be cached.
/// </summary>
internal static class ViewAugmentation
{
    private const int CropAttempts = 10;
    private static readonly double MinLogRatio = Math.Log(3.0 / 4.0), MaxLogRatio = Math.Log(4.0 / 3.0);

    /// <summary>Applies view <paramref name="view"/> to a decoded image, in place (before resizing to the model's input).</summary>
    public static void Apply(Image<Rgb24> image, AugmentConfig augment, int seed, string contentId, int view)
    {
        if (view == 0) return;
        var random = new SeededRandom(ViewSeed(seed, contentId, view));
        var crop = Crop(image.Width, image.Height, augment.CropScale[0], augment.CropScale[1], random);
        var flip = augment.Flip && random.NextInt(2) == 1;
        image.Mutate(x =>
        {
            if (crop.Width != image.Width || crop.Height != image.Height) x.Crop(crop);
            if (flip) x.Flip(FlipMode.Horizontal);
        });
    }

    /// <summary>A crop of the image: its area a uniform share of the whole within [minScale, maxScale], its aspect log-uniform.</summary>
    internal static Rectangle Crop(int width, int height, double minScale, double maxScale, SeededRandom random)
    {
        var area = (double)width * height;
        for (var attempt = 0; attempt < CropAttempts; attempt++)
        {
            var target = area * (minScale + (maxScale - minScale) * random.NextDouble());
            var ratio = Math.Exp(MinLogRatio + (MaxLogRatio - MinLogRatio) * random.NextDouble());
            var w = (int)Math.Round(Math.Sqrt(target * ratio));
            var h = (int)Math.Round(Math.Sqrt(target / ratio));
            if (w <= 0 || h <= 0 || w > width || h > height) continue;
            return new Rectangle(random.NextInt(width - w + 1), random.NextInt(height - h + 1), w, h);
        }
        // torchvision's fallback: the largest centred crop with the aspect kept in range.
        var aspect = (double)width / height;
        var (cw, ch) = aspect < 3.0 / 4.0 ? (width, (int)Math.Round(width / (3.0 / 4.0)))
            : aspect > 4.0 / 3.0 ? ((int)Math.Round(height * (4.0 / 3.0)), height) : (width, height);
        cw = Math.Min(cw, width);
        ch = Math.Min(ch, height);
        return new Rectangle((width - cw) / 2, (height - ch) / 2, cw, ch);
    }

    private static long ViewSeed(int seed, string contentId, int view) =>
        BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}:{contentId}:{view}")), 0);
}
