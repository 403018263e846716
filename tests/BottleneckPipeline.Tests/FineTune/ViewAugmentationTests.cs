using BottleneckPipeline.Config;
using BottleneckPipeline.FineTune;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Tests.FineTune;

/// <summary>The augmented views FineTune caches: a function of (seed, content id, view) alone, crops within crop_scale.</summary>
public class ViewAugmentationTests
{
    private const string Id = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    private static Image<Rgb24> Gradient(int width, int height)
    {
        var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = new Rgb24((byte)(x * 255 / width), (byte)(y * 255 / height), (byte)((x + y) % 256));
        return image;
    }

    private static byte[] Pixels(Image<Rgb24> image)
    {
        var bytes = new byte[image.Width * image.Height * 3];
        image.CopyPixelDataTo(bytes);
        return bytes;
    }

    private static byte[] View(int seed, string id, int view, AugmentConfig? augment = null)
    {
        using var image = Gradient(120, 90);
        ViewAugmentation.Apply(image, augment ?? new AugmentConfig(), seed, id, view);
        return [.. BitConverter.GetBytes(image.Width), .. BitConverter.GetBytes(image.Height), .. Pixels(image)];
    }

    [Fact]
    public void A_view_is_the_same_for_the_same_seed_image_and_view_and_differs_otherwise()
    {
        Assert.Equal(View(42, Id, 1), View(42, Id, 1));
        Assert.NotEqual(View(42, Id, 1), View(42, Id, 2));
        Assert.NotEqual(View(42, Id, 1), View(7, Id, 1));
        Assert.NotEqual(View(42, Id, 1), View(42, Id.Replace('0', 'a'), 1));
    }

    [Fact]
    public void View_zero_is_the_plain_image()
    {
        using var plain = Gradient(120, 90);
        Assert.Equal([.. BitConverter.GetBytes(120), .. BitConverter.GetBytes(90), .. Pixels(plain)], View(42, Id, 0));
    }

    [Fact]
    public void Crops_keep_a_share_of_the_area_within_crop_scale_and_an_aspect_within_three_quarters_to_four_thirds()
    {
        var random = new SeededRandom(3);
        for (var i = 0; i < 500; i++)
        {
            var crop = ViewAugmentation.Crop(400, 300, 0.5, 1.0, random);
            Assert.InRange(crop.X, 0, 400 - crop.Width);
            Assert.InRange(crop.Y, 0, 300 - crop.Height);
            Assert.InRange((double)crop.Width * crop.Height / (400 * 300), 0.49, 1.01);
            Assert.InRange((double)crop.Width / crop.Height, 0.74, 1.35);
        }
    }

    [Fact]
    public void Without_flip_and_with_a_full_crop_scale_a_view_is_the_plain_image_resized_only_by_aspect()
    {
        var noFlip = new AugmentConfig { Flip = false, CropScale = [1.0, 1.0] };
        using var plain = Gradient(120, 90);
        var view = View(42, Id, 3, noFlip);
        // The whole image at aspect 4:3 is the only crop of area share 1: nothing moves.
        Assert.Equal([.. BitConverter.GetBytes(120), .. BitConverter.GetBytes(90), .. Pixels(plain)], view);
    }
}
