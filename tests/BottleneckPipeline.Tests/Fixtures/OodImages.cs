using SkiaSharp;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// Seeded "far" out-of-distribution images: pictures of no photo class at all, to check that an
/// unknown score flags them. Four kinds, drawn with SkiaSharp (ScottPlot's renderer):
/// <list type="bullet">
/// <item>shapes: flat or gradient background with random rectangles, circles, polygons and lines;</item>
/// <item>text: random words in random sizes, colours and angles on a plain background;</item>
/// <item>noise: pixel noise, blocky value noise or stripes/checkers;</item>
/// <item>blur: any of the above, or a noise field, blurred heavily.</item>
/// </list>
/// The same seed gives the same files byte for byte (PNG, no timestamps), so a test or the bench
/// can rebuild a folder and get the same content ids.
/// </summary>
public static class OodImages
{
    public enum Kind
    {
        Shapes,
        Text,
        Noise,
        Blur,
    }

    public static readonly Kind[] Kinds = [Kind.Shapes, Kind.Text, Kind.Noise, Kind.Blur];

    private static readonly string[] Words =
    [
        "invoice", "total", "receipt", "hello", "world", "42", "2024", "STOP", "exit", "menu", "page 3",
        "lorem ipsum", "dolor", "sit amet", "QR", "€ 19.99", "chapter", "index", "note", "abc", "XYZ", "SALE",
    ];

    /// <summary>
    /// Writes <paramref name="count"/> images into <paramref name="dir"/> (created), the kinds taking
    /// turns, as kind_NNN.png; returns their paths in order.
    /// </summary>
    public static IReadOnlyList<string> Write(string dir, int count, int seed, int size = 256, IReadOnlyList<Kind>? kinds = null)
    {
        Directory.CreateDirectory(dir);
        kinds ??= Kinds;
        var paths = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var kind = kinds[i % kinds.Count];
            // One generator per image: an image does not change when the count does.
            var rng = new Random(unchecked(seed * 1_000_003 + i) & int.MaxValue);
            var path = Path.Combine(dir, $"{kind.ToString().ToLowerInvariant()}_{i:000}.png");
            using (var bitmap = Draw(kind, rng, size))
            using (var data = bitmap.Encode(SKEncodedImageFormat.Png, 100))
            using (var fs = File.Create(path))
                data.SaveTo(fs);
            paths.Add(path);
        }
        return paths;
    }

    /// <summary>One image of this kind.</summary>
    public static SKBitmap Draw(Kind kind, Random rng, int size)
    {
        var bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul));
        using var canvas = new SKCanvas(bitmap);
        switch (kind)
        {
            case Kind.Shapes:
                Shapes(canvas, rng, size);
                break;
            case Kind.Text:
                Text(canvas, rng, size);
                break;
            case Kind.Noise:
                Noise(bitmap, rng, size);
                break;
            default:
                Blurred(bitmap, canvas, rng, size);
                break;
        }
        canvas.Flush();
        return bitmap;
    }

    private static SKColor RandomColor(Random rng, byte alpha = 255) =>
        new((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256), alpha);

    private static void Background(SKCanvas canvas, Random rng, int size)
    {
        if (rng.NextDouble() < 0.5)
        {
            canvas.Clear(RandomColor(rng));
            return;
        }
        using var paint = new SKPaint
        {
            Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(size, (float)(size * rng.NextDouble())),
                [RandomColor(rng), RandomColor(rng)], SKShaderTileMode.Clamp),
        };
        canvas.DrawRect(0, 0, size, size, paint);
    }

    private static void Shapes(SKCanvas canvas, Random rng, int size)
    {
        Background(canvas, rng, size);
        var n = 2 + rng.Next(8);
        for (var s = 0; s < n; s++)
        {
            using var paint = new SKPaint
            {
                Color = RandomColor(rng),
                IsAntialias = true,
                Style = rng.NextDouble() < 0.75 ? SKPaintStyle.Fill : SKPaintStyle.Stroke,
                StrokeWidth = 2 + (float)(rng.NextDouble() * size / 20),
            };
            float X() => (float)(rng.NextDouble() * size);
            float R() => (float)(size * (0.05 + rng.NextDouble() * 0.3));
            switch (rng.Next(4))
            {
                case 0:
                    canvas.DrawRect(SKRect.Create(X(), X(), R() * 1.5f, R() * 1.5f), paint);
                    break;
                case 1:
                    canvas.DrawCircle(X(), X(), R(), paint);
                    break;
                case 2:
                    using (var path = new SKPath())
                    {
                        var (cx, cy, r, k) = (X(), X(), R(), 3 + rng.Next(5));
                        var a0 = rng.NextDouble() * Math.PI;
                        for (var j = 0; j < k; j++)
                        {
                            var a = a0 + 2 * Math.PI * j / k;
                            var p = new SKPoint(cx + r * (float)Math.Cos(a), cy + r * (float)Math.Sin(a));
                            if (j == 0) path.MoveTo(p);
                            else path.LineTo(p);
                        }
                        path.Close();
                        canvas.DrawPath(path, paint);
                    }
                    break;
                default:
                    paint.Style = SKPaintStyle.Stroke;
                    canvas.DrawLine(X(), X(), X(), X(), paint);
                    break;
            }
        }
    }

    private static void Text(SKCanvas canvas, Random rng, int size)
    {
        canvas.Clear(rng.NextDouble() < 0.6 ? new SKColor(250, 250, 245) : RandomColor(rng));
        var lines = 1 + rng.Next(6);
        using var typeface = SKTypeface.FromFamilyName(rng.NextDouble() < 0.5 ? "DejaVu Sans" : "DejaVu Serif") ?? SKTypeface.Default;
        for (var l = 0; l < lines; l++)
        {
            using var font = new SKFont(typeface, (float)(size * (0.06 + rng.NextDouble() * 0.18)));
            using var paint = new SKPaint { Color = rng.NextDouble() < 0.6 ? SKColors.Black : RandomColor(rng), IsAntialias = true };
            var words = string.Join(' ', Enumerable.Range(0, 1 + rng.Next(3)).Select(_ => Words[rng.Next(Words.Length)]));
            canvas.Save();
            canvas.RotateDegrees((float)(rng.NextDouble() * 30 - 15), size / 2f, size / 2f);
            canvas.DrawText(words, (float)(rng.NextDouble() * size * 0.3), (float)(size * (0.15 + 0.8 * rng.NextDouble())), font, paint);
            canvas.Restore();
        }
    }

    private static void Noise(SKBitmap bitmap, Random rng, int size)
    {
        var pixels = new byte[size * size * 4];
        switch (rng.Next(3))
        {
            case 0:
                {
                    // Per-pixel noise, colour or grey.
                    var grey = rng.NextDouble() < 0.3;
                    for (var p = 0; p < size * size; p++)
                    {
                        var v = (byte)rng.Next(256);
                        pixels[4 * p] = v;
                        pixels[4 * p + 1] = grey ? v : (byte)rng.Next(256);
                        pixels[4 * p + 2] = grey ? v : (byte)rng.Next(256);
                        pixels[4 * p + 3] = 255;
                    }
                    break;
                }
            case 1:
                {
                    // Blocky value noise: a coarse random grid, nearest-neighbour upsampled.
                    var cells = 4 << rng.Next(4);
                    var grid = new byte[cells * cells * 3];
                    rng.NextBytes(grid);
                    for (var y = 0; y < size; y++)
                        for (var x = 0; x < size; x++)
                        {
                            var g = ((y * cells / size) * cells + x * cells / size) * 3;
                            var p = (y * size + x) * 4;
                            (pixels[p], pixels[p + 1], pixels[p + 2], pixels[p + 3]) = (grid[g], grid[g + 1], grid[g + 2], 255);
                        }
                    break;
                }
            default:
                {
                    // Stripes or checkers in two random colours.
                    var (a, b) = (RandomColor(rng), RandomColor(rng));
                    var period = 4 + rng.Next(40);
                    var checkers = rng.NextDouble() < 0.5;
                    for (var y = 0; y < size; y++)
                        for (var x = 0; x < size; x++)
                        {
                            var on = checkers ? ((x / period + y / period) & 1) == 0 : ((x + y) / period & 1) == 0;
                            var c = on ? a : b;
                            var p = (y * size + x) * 4;
                            (pixels[p], pixels[p + 1], pixels[p + 2], pixels[p + 3]) = (c.Red, c.Green, c.Blue, 255);
                        }
                    break;
                }
        }
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
    }

    private static void Blurred(SKBitmap bitmap, SKCanvas canvas, Random rng, int size)
    {
        using var source = new SKBitmap(bitmap.Info);
        var kind = (Kind)rng.Next(3);
        if (kind == Kind.Noise) Noise(source, rng, size);
        else
        {
            using var c = new SKCanvas(source);
            if (kind == Kind.Shapes) Shapes(c, rng, size);
            else Text(c, rng, size);
        }
        var sigma = (float)(size * (0.01 + rng.NextDouble() * 0.05));
        using var paint = new SKPaint { ImageFilter = SKImageFilter.CreateBlur(sigma, sigma, SKShaderTileMode.Clamp) };
        canvas.Clear(SKColors.Black);
        canvas.DrawBitmap(source, 0, 0, paint);
    }
}
