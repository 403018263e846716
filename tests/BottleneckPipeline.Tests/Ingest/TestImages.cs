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

namespace BottleneckPipeline.Tests.Ingest;

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

    /// <summary>
    /// A complete 8x8 baseline JPEG with four components and an Adobe APP14 marker (transform 0): a
    /// CMYK JPEG as Photoshop writes them. ImageSharp 2.1 cannot encode CMYK and no encoder is at hand,
    /// so it is built by hand: every block is "DC difference 0, end of block", which the one-symbol
    /// Huffman tables below code as two 0 bits, so the four blocks are one 0x00 byte.
    /// </summary>
    public static byte[] CmykJpeg()
    {
        var b = new List<byte> { 0xFF, 0xD8 };
        b.AddRange([0xFF, 0xEE, 0x00, 0x0E, (byte)'A', (byte)'d', (byte)'o', (byte)'b', (byte)'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);
        b.AddRange([0xFF, 0xDB, 0x00, 0x43, 0x00]);
        b.AddRange(Enumerable.Repeat((byte)1, 64));
        b.AddRange([0xFF, 0xC0, 0x00, 0x14, 8, 0x00, 0x08, 0x00, 0x08, 4]);
        for (byte c = 1; c <= 4; c++) b.AddRange([c, 0x11, 0x00]);
        foreach (var tableClass in new byte[] { 0x00, 0x10 })
        {
            b.AddRange([0xFF, 0xC4, 0x00, 0x14, tableClass, 1]);
            b.AddRange(new byte[15]);
            b.Add(0x00); // the one symbol: DC category 0, or AC end-of-block
        }
        b.AddRange([0xFF, 0xDA, 0x00, 0x0E, 4]);
        for (byte c = 1; c <= 4; c++) b.AddRange([c, 0x00]);
        b.AddRange([0, 63, 0]);
        b.Add(0x00);
        b.AddRange([0xFF, 0xD9]);
        return [.. b];
    }

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

    private static void AddChunk(List<byte> b, string type, byte[] data)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        b.AddRange(len);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        b.AddRange(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        b.AddRange(crc);
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var d in data)
        {
            crc ^= d;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
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
