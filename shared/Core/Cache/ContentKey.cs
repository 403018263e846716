using System.Runtime.InteropServices;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Cache;

/// <summary>A content id (SHA-256 of an image's bytes) as 32 raw bytes: a cheap dictionary key.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct ContentKey(ulong A, ulong B, ulong C, ulong D)
{
    public const int Size = 32;

    public static ContentKey FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size) throw new ArgumentException("a content id has 32 bytes", nameof(bytes));
        var u = MemoryMarshal.Cast<byte, ulong>(bytes);
        return new ContentKey(u[0], u[1], u[2], u[3]);
    }

    /// <summary>From the index's lowercase hex form. Every content id is a SHA-256 this program computed,
    /// so one that is not 64 hex digits was damaged in the index it was read from.</summary>
    public static ContentKey FromHex(string hex)
    {
        Span<byte> b = stackalloc byte[Size];
        if (hex.Length != 64 || Convert.FromHexString(hex, b, out _, out _) != System.Buffers.OperationStatus.Done)
            throw new IndexValueException($"'{Printable.Name(hex)}' is not a content id (64 hex digits of SHA-256)");
        return FromBytes(b);
    }

    public void WriteTo(Span<byte> dest)
    {
        var u = MemoryMarshal.Cast<byte, ulong>(dest[..Size]);
        u[0] = A; u[1] = B; u[2] = C; u[3] = D;
    }

    public string ToHex()
    {
        Span<byte> b = stackalloc byte[Size];
        WriteTo(b);
        return Convert.ToHexStringLower(b);
    }

    public override string ToString() => ToHex();
}
