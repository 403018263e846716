using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>Real image files for tests: small images encoded by ImageSharp, and hand-made headers for
/// what ImageSharp will not write (CMYK JPEG, absurd dimensions).</summary>
internal static class TestImages
{
    /// <summary>Writes a small image whose pixels (and so bytes) depend on <paramref name="seed"/>.</summary>
    public static string Write(string path, int seed, string format = "png", int width = 12, int height = 9)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = new Rgb24((byte)(seed * 37 + x * 11), (byte)(seed * 91 + y * 7), (byte)(seed * 13 + x * y));
        switch (format)
        {
            case "png": image.SaveAsPng(path); break;
            case "jpeg": image.SaveAsJpeg(path, new JpegEncoder { Quality = 90 }); break;
            case "gif": image.SaveAsGif(path, new GifEncoder()); break;
            case "bmp": image.SaveAsBmp(path, new BmpEncoder()); break;
            case "webp": image.SaveAsWebp(path, new WebpEncoder { FileFormat = WebpFileFormatType.Lossless }); break;
            case "tiff": image.SaveAsTiff(path, new TiffEncoder()); break;
            default: throw new ArgumentException(format);
        }
        return path;
    }

    public static string Write16BitPng(string path, int width = 10, int height = 6)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = new Image<Rgb48>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = new Rgb48((ushort)(x * 5000), (ushort)(y * 9000), 40000);
        image.SaveAsPng(path, new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb });
        return path;
    }

    public static string WriteGrayscaleJpeg(string path, int width = 16, int height = 16)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var image = new Image<L8>(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                image[x, y] = new L8((byte)(x * 15 + y));
        image.SaveAsJpeg(path, new JpegEncoder { ColorType = JpegColorType.Luminance, Quality = 90 });
        return path;
    }

    /// <summary>A real CMYK JPEG (Adobe marker), as Photoshop writes them; see <see cref="Fixtures.CmykJpeg"/>.</summary>
    public static byte[] CmykJpeg() => Fixtures.CmykJpeg.Create(10, 200, 30, 40);

    /// <summary>A valid PNG header (signature, IHDR with correct CRC, IEND) claiming the given size, with no pixel data.</summary>
    public static byte[] PngHeader(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        var b = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        AddChunk(b, "IHDR", ihdr);
        AddChunk(b, "IEND", []);
        return [.. b];
    }

    /// <summary>A BMP file and info header claiming the given size, 24 bits per pixel, with no pixel data.</summary>
    public static byte[] BmpHeader(int width, int height)
    {
        var b = new byte[54];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        return b;
    }

    /// <summary>A BMP whose header is sound but says 0 bits per pixel: Ingest's header probe accepts
    /// it, and ImageSharp 2.1's decoder then divides by that 0 (an exception type no decoder documents).</summary>
    public static byte[] ZeroBitDepthBmp()
    {
        var b = BmpHeader(17, 13).Concat(new byte[17 * 13 * 3 + 13]).ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), b.Length);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 0);
        return b;
    }

    private static void AddChunk(List<byte> b, string type, byte[] data)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        b.AddRange(len);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        b.AddRange(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, System.IO.Hashing.Crc32.HashToUInt32(typed));
        b.AddRange(crc);
    }

    public static void MakeFifo(string path)
    {
        if (mkfifo(path, Convert.ToUInt32("644", 8)) != 0)
            throw new IOException($"mkfifo {path} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    public static bool RunningAsRoot => Environment.UserName == "root";
}
