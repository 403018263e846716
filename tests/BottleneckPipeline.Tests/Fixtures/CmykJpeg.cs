namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// Writes a real 16x16 four-component (Adobe CMYK) baseline JPEG of one flat colour. ImageSharp 2.x
/// cannot encode CMYK, and a flat image needs only DC coefficients, so a tiny encoder does it:
/// unit quantization, a two-symbol DC Huffman table and an AC table holding only end-of-block.
/// </summary>
public static class CmykJpeg
{
    public static byte[] Create(byte c, byte m, byte y, byte k)
    {
        var o = new List<byte> { 0xFF, 0xD8 };
        // APP14 "Adobe", transform 0: the components are plain CMYK, not YCCK.
        o.AddRange([0xFF, 0xEE, 0, 14, (byte)'A', (byte)'d', (byte)'o', (byte)'b', (byte)'e', 0, 100, 0, 0, 0, 0, 0]);
        o.AddRange([0xFF, 0xDB, 0, 67, 0x00]);
        o.AddRange(Enumerable.Repeat((byte)1, 64));
        o.AddRange([0xFF, 0xC0, 0, 20, 8, 0, 16, 0, 16, 4]);
        for (byte id = 1; id <= 4; id++) o.AddRange([id, 0x11, 0]);

        var values = new[] { c, m, y, k };
        var dcs = values.Select(v => 8 * (v - 128)).ToArray(); // DC of a flat 8x8 block: 8 * (level-shifted value)
        var category = Category(dcs[0]);
        if (dcs.Any(d => Category(d) != category)) throw new ArgumentException("pick values of one DC category (e.g. all far from 128)");
        // DC table: symbol 0 -> '00', symbol 'category' -> '01'. AC table: end-of-block (0x00) -> '0'.
        o.AddRange([0xFF, 0xC4, 0, 21, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte)category]);
        o.AddRange([0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);
        o.AddRange([0xFF, 0xDA, 0, 14, 4]);
        for (byte id = 1; id <= 4; id++) o.AddRange([id, 0x00]);
        o.AddRange([0, 63, 0]);

        var bits = new BitWriter(o);
        for (var mcu = 0; mcu < 4; mcu++)
            for (var comp = 0; comp < 4; comp++)
            {
                var diff = mcu == 0 ? dcs[comp] : 0;
                if (diff == 0) bits.Write(0b00, 2);
                else
                {
                    bits.Write(0b01, 2);
                    bits.Write(diff > 0 ? diff : diff + (1 << category) - 1, category);
                }
                bits.Write(0, 1); // end of block: every AC coefficient is zero
            }
        bits.Flush();
        o.AddRange([0xFF, 0xD9]);
        return [.. o];
    }

    private static int Category(int v)
    {
        var a = Math.Abs(v);
        var n = 0;
        while (a > 0) { n++; a >>= 1; }
        return n;
    }

    private sealed class BitWriter(List<byte> output)
    {
        private int _acc;
        private int _count;

        public void Write(int value, int length)
        {
            for (var i = length - 1; i >= 0; i--)
            {
                _acc = (_acc << 1) | ((value >> i) & 1);
                if (++_count == 8) Emit();
            }
        }

        public void Flush()
        {
            while (_count != 0) { _acc = (_acc << 1) | 1; if (++_count == 8) Emit(); }
        }

        private void Emit()
        {
            output.Add((byte)_acc);
            if (_acc == 0xFF) output.Add(0x00); // byte stuffing
            _acc = 0;
            _count = 0;
        }
    }
}
