using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>Real flower photos re-encoded at a chosen size: the large JPEGs the decode policy sends to libvips.</summary>
public static class FlowerPhotos
{
    /// <summary>A real flower photo upscaled to width x height, encoded as the encoder says.</summary>
    internal static byte[] Flower(int width, int height, SixLabors.ImageSharp.Formats.IImageEncoder? encoder = null, int index = 0)
    {
        var file = Directory.GetFiles(Directory.GetDirectories(RepoPaths.Flowers).Order().First(), "*.jpg").Order().ElementAt(index);
        using var image = Image.Load<Rgb24>(file);
        image.Mutate(x => x.Resize(width, height, KnownResamplers.Bicubic));
        using var ms = new MemoryStream();
        image.Save(ms, encoder ?? new JpegEncoder { Quality = 90 });
        return ms.ToArray();
    }

    /// <summary>A large JPEG whose first Huffman table is damaged: the header (size, format) still
    /// reads, so only decoding finds out, as with a file damaged on disk.</summary>
    internal static byte[] CorruptLargeJpeg()
    {
        var bytes = Flower(2400, 1800);
        var dht = bytes.AsSpan().IndexOf([(byte)0xFF, (byte)0xC4]);
        Assert.True(dht > 0, "the test JPEG has a Huffman table");
        // After the marker: 2 length bytes, 1 class/id byte, then 16 code counts; make them impossible.
        for (var i = dht + 5; i < dht + 5 + 16; i++) bytes[i] = 0xFF;
        return bytes;
    }
}
