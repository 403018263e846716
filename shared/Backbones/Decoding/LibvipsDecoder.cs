using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using ResizeMode = BottleneckPipeline.Config.ResizeMode;
using Vips = NetVips;

namespace BottleneckPipeline.Decoding;

/// <summary>
/// Decodes a JPEG straight to the model's input size with libvips' thumbnail: shrink-on-load (the
/// JPEG decoder skips DCT detail it would throw away), then a Lanczos reduce, EXIF orientation
/// applied, any colourspace converted to sRGB. Used by <see cref="InputDecoder"/> for large photos.
/// </summary>
public static class LibvipsDecoder
{
    private static readonly Lazy<string?> LoadError = new(Initialize);

    /// <summary>
    /// One libvips thread per decode (Extract's decode workers are the parallelism; more would take
    /// cores from inference), and no operation cache: each image is decoded once, and the cache
    /// would keep up to 100 MB of pixels alive for nothing.
    /// </summary>
    private static string? Initialize()
    {
        try
        {
            if (!Vips.ModuleInitializer.VipsInitialized)
                return Vips.ModuleInitializer.Exception?.Message ?? "libvips did not initialize";
            Vips.NetVips.Concurrency = 1;
            Vips.Cache.Max = 0;
            Vips.Cache.MaxMem = 0;
            Vips.Cache.MaxFiles = 0;
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException or BadImageFormatException)
        {
            return e.Message;
        }
    }

    /// <summary>Throws the config error that names the key to turn libvips off, when libvips cannot be loaded here.</summary>
    public static void EnsureAvailable()
    {
        if (LoadError.Value is { } error)
            throw new ConfigException($"'extract.libvips_min_pixels': libvips cannot be loaded on this machine ({error}). " +
                                      "Set extract.libvips_min_pixels: 0 to decode every image with ImageSharp.");
    }

    /// <summary>A size x size Rgb24 image, stretched or centre-cropped as <paramref name="mode"/> says.</summary>
    public static Image<Rgb24> Thumbnail(byte[] bytes, int size, ResizeMode mode)
    {
        EnsureAvailable();
        using var thumb = Vips.Image.ThumbnailBuffer(bytes, size, height: size,
            size: mode == ResizeMode.Stretch ? Vips.Enums.Size.Force : Vips.Enums.Size.Both,
            crop: mode == ResizeMode.Stretch ? Vips.Enums.Interesting.None : Vips.Enums.Interesting.Centre,
            failOn: Vips.Enums.FailOn.Error);
        var image = ToImageSharp(thumb);
        if (image.Width == size && image.Height == size) return image;
        var (width, height) = (image.Width, image.Height);
        image.Dispose();
        throw new ImageRejectedException($"libvips gave a {width}x{height} thumbnail, not {size}x{size}");
    }

    /// <summary>
    /// A JPEG decoded at 1/<paramref name="shrink"/> of its size (1, 2, 4 or 8) straight from the DCT, upright, with no
    /// resampling after it: the cheapest libvips decode, for callers that reduce the pixels further themselves.
    /// </summary>
    public static Image<Rgb24> ShrinkOnLoad(byte[] bytes, int shrink)
    {
        EnsureAvailable();
        var image = Vips.Image.JpegloadBuffer(bytes, shrink: shrink, failOn: Vips.Enums.FailOn.Error);
        try
        {
            if (image.Contains("orientation") && image.Get("orientation") is int orientation && orientation is > 1 and <= 8)
            {
                var upright = image.Autorot();
                image.Dispose();
                image = upright;
            }
            return ToImageSharp(image);
        }
        finally
        {
            image.Dispose();
        }
    }

    /// <summary>
    /// The pixels as an ImageSharp image of 8-bit sRGB with three bands. An image already in that form goes straight across:
    /// each libvips operation costs a fixed overhead comparable to decoding a small JPEG, so none is run for nothing.
    /// </summary>
    private static Image<Rgb24> ToImageSharp(Vips.Image image)
    {
        var ready = image.Bands == 3 && image.Format == Vips.Enums.BandFormat.Uchar && image.Interpretation == Vips.Enums.Interpretation.Srgb;
        var rgb = ready ? image : ToRgb8(image);
        try
        {
            if (rgb.Bands != 3) throw new ImageRejectedException($"libvips gave {rgb.Bands} bands, not 3");
            return Image.LoadPixelData<Rgb24>(ImageFormats.Configuration, rgb.WriteToMemory<byte>(), rgb.Width, rgb.Height);
        }
        finally
        {
            if (!ready) rgb.Dispose();
        }
    }

    /// <summary>Gray, CMYK or 16-bit images become 8-bit sRGB with three bands.</summary>
    private static Vips.Image ToRgb8(Vips.Image image)
    {
        var x = image.Interpretation == Vips.Enums.Interpretation.Srgb ? image.Copy() : image.Colourspace(Vips.Enums.Interpretation.Srgb);
        if (x.Bands > 3) { var y = x.ExtractBand(0, 3); x.Dispose(); x = y; }
        if (x.Format != Vips.Enums.BandFormat.Uchar) { var y = x.Cast(Vips.Enums.BandFormat.Uchar); x.Dispose(); x = y; }
        return x;
    }
}
