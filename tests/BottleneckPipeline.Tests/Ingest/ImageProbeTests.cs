using BottleneckPipeline.Imaging;
using BottleneckPipeline.Tests.Fixtures;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Tests.Ingest;

public sealed class ImageProbeTests
{
    private static ProbeOutcome Probe(string path, long maxPixels = 50_000_000) => ImageProbe.Probe(path, new FileInfo(path).Length, maxPixels);

    [Theory]
    [InlineData("jpeg", "a.jpg")]
    [InlineData("png", "a.png")]
    [InlineData("gif", "a.gif")]
    [InlineData("bmp", "a.bmp")]
    [InlineData("webp", "a.webp")]
    [InlineData("tiff", "a.tif")]
    public void Every_supported_format_is_recognised_with_its_size(string format, string name)
    {
        using var dir = new TempDir();
        var path = TestImages.Write(dir[name], seed: 3, format, width: 13, height: 7);
        var o = Probe(path);
        Assert.NotNull(o.Image);
        Assert.Equal(format, o.Image!.Value.Format);
        Assert.Equal((13, 7), (o.Image.Value.Width, o.Image.Value.Height));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path))), o.Image.Value.ContentId);
    }

    [Fact]
    public void Format_comes_from_content_not_extension()
    {
        using var dir = new TempDir();
        var png = TestImages.Write(dir["x.png"], 1, "png");
        File.Move(png, dir["really-a-png.jpg"]);
        Assert.Equal("png", Probe(dir["really-a-png.jpg"]).Image?.Format);
    }

    [Fact]
    public void Sixteen_bit_PNG_grayscale_JPEG_and_CMYK_JPEG_are_accepted()
    {
        using var dir = new TempDir();
        var png16 = Probe(TestImages.Write16BitPng(dir["deep.png"], 10, 6)).Image;
        Assert.Equal(("png", 10, 6), (png16?.Format, png16?.Width, png16?.Height));
        var gray = Probe(TestImages.WriteGrayscaleJpeg(dir["gray.jpg"], 16, 16)).Image;
        Assert.Equal(("jpeg", 16, 16), (gray?.Format, gray?.Width, gray?.Height));

        File.WriteAllBytes(dir["cmyk.jpg"], TestImages.CmykJpeg());
        var cmyk = Probe(dir["cmyk.jpg"]).Image;
        Assert.Equal(("jpeg", 16, 16), (cmyk?.Format, cmyk?.Width, cmyk?.Height));
        // The hand-made file is a real JPEG: the full decoder (what Extract uses) reads its pixels.
        using var decoded = Image.Load<Rgb24>(dir["cmyk.jpg"]);
        Assert.Equal(16, decoded.Width);
    }

    [Fact]
    public void Zero_bytes_and_non_images_are_rejected_with_reasons()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["empty.jpg"], []);
        File.WriteAllText(dir["text.jpg"], "this is not a picture, just words");
        var empty = ImageProbe.Probe(dir["empty.jpg"], 0, 50_000_000);
        Assert.Null(empty.Image);
        Assert.Contains("0 bytes", empty.RejectReason);
        var text = Probe(dir["text.jpg"]);
        Assert.Null(text.Image);
        Assert.True(text.NotAnImage);
        Assert.Contains("not an image", text.RejectReason);
    }

    [Fact]
    public void An_image_over_the_pixel_limit_is_rejected()
    {
        using var dir = new TempDir();
        var path = TestImages.Write(dir["big.png"], 1, "png", 40, 40);
        Assert.NotNull(Probe(path, maxPixels: 1600).Image);
        var over = Probe(path, maxPixels: 1599);
        Assert.Null(over.Image);
        Assert.Contains("too large: 40x40", over.RejectReason);
        Assert.Contains("dataset.max_pixels", over.RejectReason);
    }

    [Theory]
    [InlineData("png")]
    [InlineData("bmp")]
    public void A_header_claiming_100000_by_100000_is_refused_without_allocating_it(string format)
    {
        using var dir = new TempDir();
        var path = dir["huge." + format];
        File.WriteAllBytes(path, format == "png" ? TestImages.PngHeader(100_000, 100_000) : TestImages.BmpHeader(100_000, 100_000));
        Probe(path); // warm up code paths so the allocation count below is the probe's own
        var before = GC.GetAllocatedBytesForCurrentThread();
        var o = Probe(path);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Null(o.Image);
        // PNG reaches the pixel check; ImageSharp's BMP header reader refuses sizes over 65535 itself.
        Assert.Contains(format == "png" ? "too large: 100000x100000" : "100000x100000", o.RejectReason);
        // Decoding would need 30 GB; the header read takes a few kilobytes.
        Assert.True(allocated < 4_000_000, $"probe allocated {allocated} bytes");
    }

    [Fact]
    public void A_truncated_header_is_rejected_not_thrown()
    {
        using var dir = new TempDir();
        var bytes = File.ReadAllBytes(TestImages.Write(dir["full.jpg"], 2, "jpeg", 30, 30));
        File.WriteAllBytes(dir["cut.jpg"], bytes[..20]);
        var o = Probe(dir["cut.jpg"]);
        Assert.Null(o.Image);
        Assert.False(string.IsNullOrEmpty(o.RejectReason));
    }
}
