using BottleneckPipeline.Backbones;
using BottleneckPipeline.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using ResizeMode = BottleneckPipeline.Config.ResizeMode;

namespace BottleneckPipeline.Decoding;

/// <summary>Which decoder made an image's pixels (tests and benches ask).</summary>
internal enum DecodePath { ImageSharp, Libvips }

/// <summary>
/// Encoded bytes to the model's size x size input pixels, by the <see cref="DecodePolicy"/>: the
/// header is read first (format, size, the checks of <see cref="ImageLoader"/>), then a large JPEG
/// goes to libvips' shrink-on-load and anything else to ImageSharp's full decode and resize.
/// Extract, predict and Evaluate's export check all decode through here, so they see the same pixels.
/// </summary>
public static class InputDecoder
{
    public static Image<Rgb24> Decode(byte[] bytes, long maxPixels, int size, ResizeMode mode, DecodePolicy policy) =>
        Decode(bytes, maxPixels, size, mode, policy, out _);

    internal static Image<Rgb24> Decode(byte[] bytes, long maxPixels, int size, ResizeMode mode, DecodePolicy policy, out DecodePath path)
    {
        var chosen = DecodePath.ImageSharp;
        var image = ImageLoader.Guard(() =>
        {
            var header = ImageLoader.Check(bytes, maxPixels);
            if (policy.ChoosesLibvips(header.IsJpeg, header.Pixels))
            {
                chosen = DecodePath.Libvips;
                return LibvipsDecoder.Thumbnail(bytes, size, mode);
            }
            var full = ImageLoader.Load(bytes);
            try
            {
                TensorWriter.Resize(full, size, mode);
                return full;
            }
            catch
            {
                full.Dispose();
                throw;
            }
        });
        path = chosen;
        return image;
    }
}
