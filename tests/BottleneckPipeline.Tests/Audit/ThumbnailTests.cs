using System.Security.Cryptography;
using BottleneckPipeline.Audit;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>The layout check's grey thumbnails, made from real encoded files by both decode paths.</summary>
public sealed class ThumbnailTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("thumbnails-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A picture no crop or turn maps onto itself: a grey ramp left to right, a bright block top left.</summary>
    private static Image<Rgb24> Picture(int width, int height)
    {
        var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var v = (byte)(40 + 160 * x / width);
                image[x, y] = x < width / 4 && y < height / 3 ? new Rgb24(250, 250, 250) : new Rgb24(v, (byte)(v / 2), 30);
            }
        return image;
    }

    private byte[] ThumbnailOf(string name, Image<Rgb24> image, Action<Image<Rgb24>, Stream> save)
    {
        var path = Path.Join(_dir, name);
        using (var file = File.Create(path)) save(image, file);
        var id = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
        return Thumbnails.Make(path, id, 100_000_000) ?? throw new InvalidOperationException($"no thumbnail for {name}");
    }

    private static double MeanAbsoluteDifference(byte[] a, byte[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();

    [Fact]
    public void Each_thumbnail_pixel_is_the_mean_grey_of_the_area_it_covers()
    {
        // 97 columns: about 3 to a thumbnail pixel, so the white half starts inside one, which mixes both.
        using var image = new Image<Rgb24>(97, 64, new Rgb24(0, 0, 0));
        for (var y = 0; y < 64; y++)
            for (var x = 48; x < 97; x++) image[x, y] = new Rgb24(255, 255, 255);
        var grey = Thumbnails.AreaGrey(image, LayoutCheck.Side);
        var split = 48.0 / (97.0 / 32); // where the white half starts, in thumbnail pixels
        for (var x = 0; x < LayoutCheck.Side; x++)
        {
            var expected = 255 * Math.Clamp(x + 1 - split, 0, 1);
            for (var y = 0; y < LayoutCheck.Side; y++) Assert.Equal(expected, grey[y * LayoutCheck.Side + x], 1.0);
        }
    }

    [Theory]
    [InlineData(4000, 3000, 8)]
    [InlineData(320, 240, 4)]
    [InlineData(500, 255, 4)]
    [InlineData(100, 80, 2)]
    [InlineData(40, 60, 1)]
    public void A_JPEG_is_shrunk_on_load_only_as_far_as_both_sides_stay_a_thumbnail_long(int width, int height, int shrink) =>
        Assert.Equal(shrink, Thumbnails.ShrinkFor(width, height));

    [Fact]
    public void A_JPEG_shrunk_on_load_gives_the_thumbnail_of_its_full_decode()
    {
        using var picture = Picture(640, 480);
        var fromJpeg = ThumbnailOf("photo.jpg", picture, (i, s) => i.SaveAsJpeg(s, new JpegEncoder { Quality = 95 }));
        var fromPng = ThumbnailOf("photo.png", picture, (i, s) => i.SaveAsPng(s));
        Assert.True(MeanAbsoluteDifference(fromJpeg, fromPng) < 3, $"mean difference {MeanAbsoluteDifference(fromJpeg, fromPng):F2} grey levels");
        Assert.InRange(LayoutCheck.Score(fromJpeg, fromPng), LayoutCheck.SamePicture, 1.0001);
    }

    [Fact]
    public void A_JPEG_turned_by_its_EXIF_orientation_gets_the_upright_thumbnail()
    {
        using var upright = Picture(640, 480);
        var expected = ThumbnailOf("upright.png", upright, (i, s) => i.SaveAsPng(s));
        // Orientation 6: the stored pixels are turned a quarter anticlockwise, and shown turned back clockwise.
        using var stored = upright.Clone(x => x.Rotate(RotateMode.Rotate270));
        stored.Metadata.ExifProfile = new ExifProfile();
        stored.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6);
        var turned = ThumbnailOf("turned.jpg", stored, (i, s) => i.SaveAsJpeg(s, new JpegEncoder { Quality = 95 }));
        Assert.True(MeanAbsoluteDifference(turned, expected) < 3, $"mean difference {MeanAbsoluteDifference(turned, expected):F2} grey levels");
    }
}
