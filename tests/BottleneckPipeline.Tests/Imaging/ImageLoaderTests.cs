using BottleneckPipeline.Imaging;
using BottleneckPipeline.Tests.Fixtures;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata.Profiles.Exif;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Tests.Imaging;

public class ImageLoaderTests
{
    private static byte[] Encode<T>(Image<T> image, SixLabors.ImageSharp.Formats.IImageEncoder encoder) where T : unmanaged, IPixel<T>
    {
        using var ms = new MemoryStream();
        image.Save(ms, encoder);
        return ms.ToArray();
    }

    private static void AssertNear(Rgb24 want, Rgb24 got, int tolerance)
    {
        Assert.InRange(got.R, Math.Max(0, want.R - tolerance), Math.Min(255, want.R + tolerance));
        Assert.InRange(got.G, Math.Max(0, want.G - tolerance), Math.Min(255, want.G + tolerance));
        Assert.InRange(got.B, Math.Max(0, want.B - tolerance), Math.Min(255, want.B + tolerance));
    }

    [Fact]
    public void Truncated_jpeg_is_rejected()
    {
        var bytes = File.ReadAllBytes(Directory.GetFiles(Directory.GetDirectories(RepoPaths.Flowers).Order().First(), "*.jpg").Order().First());
        var cut = bytes[..(bytes.Length / 2)];
        var e = Assert.Throws<ImageRejectedException>(() => ImageLoader.Decode(cut, 50_000_000));
        Assert.Contains("truncated", e.Message);
        using var whole = ImageLoader.Decode(bytes, 50_000_000);
        Assert.True(whole.Width > 0);
    }

    [Fact]
    public void Garbage_is_rejected_not_thrown_raw()
    {
        var e = Assert.Throws<ImageRejectedException>(() => ImageLoader.Decode("not an image at all"u8.ToArray(), 50_000_000));
        Assert.False(string.IsNullOrEmpty(e.Message));
    }

    [Fact]
    public void Any_exception_a_decoder_throws_is_a_rejection_with_its_reason()
    {
        // ImageSharp's BMP decoder divides by the header's bits per pixel: DivideByZeroException,
        // a type no decoder documents, must still mean "cannot decode this image".
        var e = Assert.Throws<ImageRejectedException>(() => ImageLoader.Decode(TestImages.ZeroBitDepthBmp(), 50_000_000));
        Assert.StartsWith("cannot decode:", e.Message, StringComparison.Ordinal);
        Assert.IsType<DivideByZeroException>(e.InnerException);
    }

    [Fact]
    public void Too_many_pixels_are_rejected_from_the_header()
    {
        using var big = new Image<Rgb24>(100, 100);
        var e = Assert.Throws<ImageRejectedException>(() => ImageLoader.Decode(Encode(big, new PngEncoder()), 9_999));
        Assert.Contains("max_pixels", e.Message);
    }

    [Fact]
    public void Exif_orientation_is_applied()
    {
        // Stored 40x20: left half red, right half blue. Orientation 6 means "rotate 90 degrees clockwise
        // to display", so upright it is 20x40 with red on top.
        using var img = new Image<Rgb24>(40, 20);
        for (var y = 0; y < 20; y++)
            for (var x = 0; x < 40; x++) img[x, y] = x < 20 ? new Rgb24(255, 0, 0) : new Rgb24(0, 0, 255);
        img.Metadata.ExifProfile = new ExifProfile();
        img.Metadata.ExifProfile.SetValue(ExifTag.Orientation, (ushort)6);
        using var decoded = ImageLoader.Decode(Encode(img, new JpegEncoder { Quality = 95 }), 50_000_000);
        Assert.Equal(20, decoded.Width);
        Assert.Equal(40, decoded.Height);
        AssertNear(new Rgb24(255, 0, 0), decoded[10, 5], 40);
        AssertNear(new Rgb24(0, 0, 255), decoded[10, 35], 40);
    }

    [Fact]
    public void Cmyk_jpeg_decodes_to_rgb()
    {
        // Adobe CMYK JPEGs store inverted ink (255 = no ink), so these values mean red: R = C * K / 255.
        var bytes = CmykJpeg.Create(200, 40, 40, 250);
        using var decoded = ImageLoader.Decode(bytes, 50_000_000);
        Assert.Equal(16, decoded.Width);
        AssertNear(new Rgb24(196, 39, 39), decoded[8, 8], 3);
    }

    [Fact]
    public void Gray_png_decodes_to_equal_rgb_channels()
    {
        using var img = new Image<L8>(8, 8, new L8(77));
        using var decoded = ImageLoader.Decode(Encode(img, new PngEncoder { ColorType = PngColorType.Grayscale }), 50_000_000);
        Assert.Equal(new Rgb24(77, 77, 77), decoded[3, 3]);
    }

    [Fact]
    public void Sixteen_bit_png_decodes_to_8_bit_rgb()
    {
        using var img = new Image<Rgb48>(8, 8, new Rgb48(65535, 0, 32896));
        using var decoded = ImageLoader.Decode(Encode(img, new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb }), 50_000_000);
        Assert.Equal(new Rgb24(255, 0, 128), decoded[1, 1]);
    }

    [Fact]
    public void Palette_png_decodes_to_rgb()
    {
        using var img = new Image<Rgba32>(8, 8, new Rgba32(10, 200, 30));
        using var decoded = ImageLoader.Decode(Encode(img, new PngEncoder { ColorType = PngColorType.Palette }), 50_000_000);
        AssertNear(new Rgb24(10, 200, 30), decoded[2, 2], 2);
    }

    [Fact]
    public void Alpha_png_decodes_to_rgb()
    {
        using var img = new Image<Rgba32>(8, 8, new Rgba32(30, 60, 90, 128));
        using var decoded = ImageLoader.Decode(Encode(img, new PngEncoder { ColorType = PngColorType.RgbWithAlpha }), 50_000_000);
        Assert.Equal(new Rgb24(30, 60, 90), decoded[4, 4]);
    }

    [Fact]
    public void Animated_gif_keeps_only_its_first_frame()
    {
        using var img = new Image<Rgba32>(8, 8, new Rgba32(255, 0, 0));
        using (var blue = new Image<Rgba32>(8, 8, new Rgba32(0, 0, 255))) img.Frames.AddFrame(blue.Frames.RootFrame);
        var bytes = Encode(img, new GifEncoder());
        Assert.Equal(2, Image.Load<Rgba32>(new Configuration(new GifConfigurationModule()), bytes).Frames.Count);
        using var decoded = ImageLoader.Decode(bytes, 50_000_000);
        Assert.Equal(1, decoded.Frames.Count);
        AssertNear(new Rgb24(255, 0, 0), decoded[4, 4], 2);
    }

    [Fact]
    public void Center_crop_keeps_the_middle_and_stretch_keeps_everything()
    {
        // 30x10: left third red, middle green, right third blue.
        using var img = new Image<Rgb24>(30, 10);
        for (var y = 0; y < 10; y++)
            for (var x = 0; x < 30; x++) img[x, y] = x < 10 ? new Rgb24(255, 0, 0) : x < 20 ? new Rgb24(0, 255, 0) : new Rgb24(0, 0, 255);
        using var crop = img.Clone();
        TensorWriter.Resize(crop, 10, BottleneckPipeline.Config.ResizeMode.CenterCrop);
        Assert.Equal(10, crop.Width);
        AssertNear(new Rgb24(0, 255, 0), crop[0, 5], 10);
        AssertNear(new Rgb24(0, 255, 0), crop[9, 5], 10);
        using var stretch = img.Clone();
        TensorWriter.Resize(stretch, 10, BottleneckPipeline.Config.ResizeMode.Stretch);
        AssertNear(new Rgb24(255, 0, 0), stretch[0, 5], 10);
        AssertNear(new Rgb24(0, 0, 255), stretch[9, 5], 10);
    }
}
