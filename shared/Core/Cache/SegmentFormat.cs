using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using BottleneckPipeline.Config;
using MessagePack;

namespace BottleneckPipeline.Cache;

/// <summary>Encoding and checking of one cache record; the format is described in BottleneckCache.cs.</summary>
internal static class SegmentFormat
{
    public static ReadOnlySpan<byte> Magic => "BPVECS01"u8;
    public const int HeaderSize = 8;
    public const int LengthSize = 4;
    public const int ChecksumSize = 8;
    /// <summary>No record is this large (a 4M-float vector); a bigger length means a damaged length field.</summary>
    public const int MaxPayload = 16 << 20;

    /// <summary>Appends one framed record (length, MessagePack payload, checksum) to <paramref name="output"/>.</summary>
    public static void Encode(ContentKey key, ReadOnlySpan<float> vector, VectorPrecision precision, ArrayBufferWriter<byte> scratch,
        IBufferWriter<byte> output)
    {
        scratch.Clear();
        var w = new MessagePackWriter(scratch);
        w.WriteArrayHeader(3);
        var id = new byte[ContentKey.Size];
        key.WriteTo(id);
        w.Write(id);
        if (precision == VectorPrecision.Float16)
        {
            w.Write(16);
            var half = new Half[vector.Length];
            System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(vector, half);
            w.Write(MemoryMarshal.AsBytes(half.AsSpan()));
        }
        else
        {
            w.Write(32);
            w.Write(MemoryMarshal.AsBytes(vector));
        }
        w.Flush();

        var payload = scratch.WrittenSpan;
        var total = LengthSize + payload.Length + ChecksumSize;
        var dest = output.GetSpan(total)[..total];
        BinaryPrimitives.WriteInt32LittleEndian(dest, payload.Length);
        payload.CopyTo(dest[LengthSize..]);
        var sum = XxHash3.HashToUInt64(dest[..(LengthSize + payload.Length)]);
        BinaryPrimitives.WriteUInt64LittleEndian(dest[(LengthSize + payload.Length)..], sum);
        output.Advance(total);
    }

    public enum Outcome { Ok, NeedMore, Corrupt }

    /// <summary>A decoded record: the vector bytes point into the buffer that was parsed.</summary>
    public readonly ref struct Record(ContentKey key, int bits, ReadOnlySpan<byte> vector)
    {
        public ContentKey Key { get; } = key;
        public int Bits { get; } = bits;
        public ReadOnlySpan<byte> Vector { get; } = vector;
        public int Dimension => Vector.Length / (Bits / 8);
    }

    /// <summary>Parses the record at the start of <paramref name="data"/>; <paramref name="consumed"/> is its framed size.</summary>
    public static Outcome TryDecode(ReadOnlySpan<byte> data, out Record record, out int consumed, bool endOfFile)
    {
        record = default;
        consumed = 0;
        if (data.Length < LengthSize) return Shortfall(data, endOfFile);
        var len = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (len <= 0 || len > MaxPayload) return Outcome.Corrupt;
        var total = LengthSize + len + ChecksumSize;
        if (data.Length < total) return Shortfall(data, endOfFile);
        var sum = BinaryPrimitives.ReadUInt64LittleEndian(data[(LengthSize + len)..]);
        if (XxHash3.HashToUInt64(data[..(LengthSize + len)]) != sum) return Outcome.Corrupt;
        if (!TryParsePayload(data.Slice(LengthSize, len), out record)) return Outcome.Corrupt;
        consumed = total;
        return Outcome.Ok;
    }

    private static Outcome Shortfall(ReadOnlySpan<byte> data, bool endOfFile) => endOfFile ? Outcome.Corrupt : Outcome.NeedMore;

    private static bool TryParsePayload(ReadOnlySpan<byte> payload, out Record record)
    {
        record = default;
        // The payload is small and fixed-shape; parse the three MessagePack items by hand to read
        // from the span without copying: array(3), bin8 id, positive fixint bits, bin16/32 vector.
        if (payload.Length < 1 + 2 + ContentKey.Size + 1 + 1 || payload[0] != 0x93) return false;
        if (payload[1] != 0xc4 || payload[2] != ContentKey.Size) return false;
        var key = ContentKey.FromBytes(payload.Slice(3, ContentKey.Size));
        var p = 3 + ContentKey.Size;
        int bits = payload[p++];
        if (bits is not (16 or 32)) return false;
        if (p >= payload.Length) return false;
        int n;
        switch (payload[p++])
        {
            case 0xc4: if (p + 1 > payload.Length) return false; n = payload[p]; p += 1; break;
            case 0xc5: if (p + 2 > payload.Length) return false; n = BinaryPrimitives.ReadUInt16BigEndian(payload[p..]); p += 2; break;
            case 0xc6: if (p + 4 > payload.Length) return false; n = BinaryPrimitives.ReadInt32BigEndian(payload[p..]); p += 4; break;
            default: return false;
        }
        if (n <= 0 || p + n != payload.Length || n % (bits / 8) != 0) return false;
        record = new Record(key, bits, payload.Slice(p, n));
        return true;
    }
}
